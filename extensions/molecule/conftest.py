# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the testinfra verifiers of every scenario share: the fleet's variables, the state of the
HAProxy backend read straight from its admin socket, and requests through the front door.

Molecule runs the tests with ``--connection=ansible --ansible-inventory=<inventory dir>``; the
inventory there is the one the scenario's fleet wrote, so every app host is local.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest
import testinfra

NEW = "v2"
OLD = "v1"

# srv_admin_state bits: forced, inherited, config, resolver and hostname maintenance; drain
ADMIN_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN_BITS = 0x08 | 0x10
SRV_RUNNING = 2  # srv_op_state: the server is up


def runtime_api(address: str, command: str, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's runtime API (unix socket path or host:port) and return the answer."""
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
    else:
        host, port = address.rsplit(":", 1)
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    with sock:
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_states(address: str, backend: str) -> Dict[str, dict]:
    """{server: {"admin": ready|drain|maint, "weight": user weight, "up": bool}} from ``show servers state``."""
    lines = [line for line in runtime_api(address, "show servers state %s" % backend).splitlines() if line.strip()]
    header = next(line for line in lines if line.startswith("#"))
    names = header[1:].split()
    states = {}
    for line in lines[lines.index(header) + 1:]:
        row = dict(zip(names, line.split()))
        admin = int(row["srv_admin_state"])
        states[row["srv_name"]] = {
            "admin": "maint" if admin & ADMIN_MAINT_BITS else "drain" if admin & ADMIN_DRAIN_BITS else "ready",
            "weight": int(row["srv_uweight"]),
            "up": int(row["srv_op_state"]) == SRV_RUNNING,
        }
    if not states:
        raise AssertionError("HAProxy backend %s has no servers: %r" % (backend, lines))
    return states


def get(url: str, timeout: float = 2.0) -> tuple:
    """(status, body) of a GET; urllib raises for a refused connection, which fails the test."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()


@pytest.fixture(scope="session")
def fleet_vars(request) -> dict:
    """The variables every host shares (deploy_*, groups), read through lb1's host vars."""
    lb = testinfra.get_host("ansible://lb1", ansible_inventory=request.config.option.ansible_inventory)
    return lb.ansible.get_variables()


@pytest.fixture(scope="session")
def fleet_dir(request) -> Path:
    """The fleet's work dir: where the inventory molecule uses (inventory/fleet.yml) comes from."""
    return (Path(request.config.option.ansible_inventory) / "fleet.yml").resolve(strict=True).parent


@pytest.fixture(scope="session")
def app_hosts(fleet_vars) -> List[str]:
    return fleet_vars["groups"]["app"]


@pytest.fixture()
def lb(fleet_vars) -> Dict[str, dict]:
    """The HAProxy backend as it is now."""
    return server_states(fleet_vars["deploy_haproxy_socket"], fleet_vars["deploy_haproxy_backend"])


@pytest.fixture(scope="session")
def lb_before(fleet_dir) -> Dict[str, dict]:
    """The HAProxy backend as prepare left it, before the deployment (admin, weight, status per server)."""
    return json.loads((fleet_dir / "before.json").read_text())["haproxy"]


@pytest.fixture(scope="session")
def front_door(fleet_dir) -> str:
    """HAProxy's frontend URL."""
    return json.loads((fleet_dir / "fleet.json").read_text())["frontend_url"]


def versions_served(front_door: str, requests: int = 12) -> List[str]:
    """The /version answers of ``requests`` requests through the front door."""
    url = front_door.rstrip("/") + "/version"
    answers: List[str] = []
    while len(answers) < requests:
        status, body = get(url)
        answers.append(body if status == 200 else "HTTP %d" % status)
    return answers


def assert_on_release(host, version: str) -> None:
    """``host`` has releases/<version>, current links to it, supervisor runs the program from it and
    it answers /health and /version for that release on its own address."""
    hostvars = host.ansible.get_variables()
    root = hostvars["deploy_root"]
    release = host.file("%s/releases/%s" % (root, version))
    assert release.is_directory, "%s: no release directory %s" % (hostvars["inventory_hostname"], release.path)
    current = host.file("%s/current" % root)
    assert current.is_symlink, "%s: %s is not a symlink" % (hostvars["inventory_hostname"], current.path)
    assert current.linked_to == release.path
    status = host.run("%s status %s" % (hostvars["deploy_supervisorctl"], hostvars["deploy_service_name"]))
    assert status.rc == 0 and "RUNNING" in status.stdout, status.stdout + status.stderr
    base = "http://%s:%s" % (hostvars["ansible_host"], hostvars["deploy_port"])
    assert get(base + "/health") == (200, "ok %s" % version)
    assert get(base + "/version") == (200, version)


def last_deployment(host) -> dict:
    """The newest entry of the deployment history the collection records on ``host``."""
    root = host.ansible.get_variables()["deploy_root"]
    return json.loads(host.file("%s/.lastmile/state.json" % root).content_string)["history"][-1]
