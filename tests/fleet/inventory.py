# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible inventory describing a fleet: group app (the hosts) and group lb (lb1)."""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Callable, Optional, Sequence

import yaml

from fleet.hosts import PROGRAM, FleetHost

# (inventory host name, its address or None for the LB host) -> its connection variables
Transport = Callable[[str, Optional[str]], dict]


def local_connection(name: str, address: Optional[str]) -> dict:  # pylint: disable=unused-argument
    """The default transport: Ansible's local connection with this Python."""
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


def build_inventory(hosts: Sequence[FleetHost], haproxy_socket: str, backend: str = "sample",
                    extra_vars: Optional[dict] = None, transport: Optional[Transport] = None) -> dict:
    """Inventory data: every host with its own deploy_root and supervisorctl; connections from
    ``transport`` (default: every connection local; fleet.sshd.SSHServer.host_vars for SSH)."""
    connection = transport or local_connection
    app_hosts = {
        h.name: {
            "ansible_host": h.address,
            **connection(h.name, h.address),
            "deploy_root": h.root,
            "deploy_supervisorctl": h.supervisorctl,
        }
        for h in hosts
    }
    all_vars = {
        "deploy_app": PROGRAM,
        "deploy_port": hosts[0].port if hosts else 8080,
        "deploy_service_manager": "supervisor",
        "deploy_service_name": PROGRAM,
        "deploy_haproxy_socket": haproxy_socket,
        "deploy_haproxy_backend": backend,
    }
    all_vars.update(extra_vars or {})
    return {
        "all": {
            "vars": all_vars,
            "children": {
                "app": {"hosts": app_hosts},
                "lb": {"hosts": {"lb1": connection("lb1", None)}},
            },
        }
    }


def write_inventory_file(path: str, inventory: dict) -> str:
    """Write ``inventory`` as YAML (atomically) and return the path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# lastmile.deploy test fleet inventory (generated)\n")
        yaml.safe_dump(inventory, f, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
