# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Fleet: N loopback hosts under supervisord, HAProxy in front, artifacts and inventory in one work dir."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from fleet.artifacts import Artifact, build_release
from fleet.haproxy import BACKEND, HAProxy
from fleet.hosts import FleetHost
from fleet.inventory import Transport, build_inventory, write_inventory_file
from fleet.load import LoadGenerator
from fleet.procs import FleetError, check_socket_path, fleet_processes, free_port, kill_leftovers

STATE_FILE = "fleet.json"
T = TypeVar("T")


class Fleet:
    """Start and stop a whole local fleet; every wait is bounded.

    ``workdir`` None creates a short /tmp/lmf-XXXXXXXX directory, removed again by stop()
    unless ``keep_workdir`` (or the environment variable LMF_KEEP=1) says otherwise.
    """

    def __init__(self, workdir: Optional[str] = None, hosts: int = 4, base_address: int = 11,
                 lb_port: Optional[int] = None, tcp_admin: bool = False, keep_workdir: Optional[bool] = None,
                 tcp_admin_port: Optional[int] = None) -> None:
        if hosts < 1 or base_address < 2 or base_address + hosts - 1 > 254:
            raise FleetError("hosts=%d from 127.0.0.%d: expected addresses within 127.0.0.2-254"
                             % (hosts, base_address))
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir) if workdir else tempfile.mkdtemp(prefix="lmf-", dir="/tmp")
        if keep_workdir is None:
            keep_workdir = os.environ.get("LMF_KEEP") == "1"
        self.keep_workdir = keep_workdir
        self.base_address = base_address
        self.hosts: List[FleetHost] = [
            FleetHost("app%d" % i, "127.0.0.%d" % (base_address + i - 1), self.workdir) for i in range(1, hosts + 1)]
        if tcp_admin and tcp_admin_port is None:
            tcp_admin_port = free_port()
        self.haproxy = HAProxy(os.path.join(self.workdir, "lb"), [(h.name, h.address, h.port) for h in self.hosts],
                               lb_port or free_port(), tcp_admin_port=tcp_admin_port if tcp_admin else None)
        for path in [h.socket for h in self.hosts] + [self.haproxy.socket]:
            check_socket_path(path)
        self.artifacts_dir = os.path.join(self.workdir, "artifacts")
        self.inventory_path = os.path.join(self.workdir, "inventory.yml")
        self.state_path = os.path.join(self.workdir, STATE_FILE)

    def __enter__(self) -> "Fleet":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return "Fleet(%s, %d hosts, lb %s)" % (self.workdir, len(self.hosts), self.frontend_url)

    @property
    def frontend_url(self) -> str:
        """The front door: HAProxy's frontend."""
        return self.haproxy.frontend_url

    @property
    def lb_port(self) -> int:
        return self.haproxy.lb_port

    def host(self, name: str) -> FleetHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise FleetError("no fleet host %r: expected one of %s" % (name, ", ".join(h.name for h in self.hosts)))

    def _each(self, fn: Callable[[FleetHost], T], hosts: Optional[Sequence[FleetHost]] = None) -> Dict[str, T]:
        """Run ``fn`` on hosts in parallel; {host name: result}; the first error is raised."""
        chosen = list(hosts) if hosts is not None else self.hosts
        if not chosen:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(chosen))) as pool:
            futures = {h.name: pool.submit(fn, h) for h in chosen}
            return {name: f.result() for name, f in futures.items()}

    def start(self, timeout: float = 20.0) -> "Fleet":
        """Start every supervisord and HAProxy, wait until all answer, write inventory and fleet.json."""
        os.makedirs(self.artifacts_dir, exist_ok=True)
        try:
            for h in self.hosts:
                h.start()
            self.haproxy.start(timeout=timeout)
            self._each(lambda h: h.wait_started(timeout))
            self.write_inventory(self.inventory_path)
            self.save_state()
        except BaseException:
            self.stop(remove_workdir=False)
            raise
        return self

    def stop(self, remove_workdir: Optional[bool] = None) -> Dict[int, str]:
        """Stop hosts (programs stop gracefully) and HAProxy; SIGKILL anything left behind.

        Returns the leftover processes that had to be killed ({pid: cmdline}, normally empty).
        """
        errors: List[str] = []
        try:
            self._each(lambda h: h.stop())
        except Exception as e:  # keep going: HAProxy and the sweep below must still run
            errors.append("hosts: %s" % e)
        try:
            self.haproxy.stop()
        except Exception as e:
            errors.append("haproxy: %s" % e)
        killed = kill_leftovers(self.workdir)
        if remove_workdir is None:
            remove_workdir = self._own_workdir and not self.keep_workdir
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise FleetError("fleet stop had errors (processes were killed anyway): %s" % "; ".join(errors))
        return killed

    def processes(self) -> Dict[int, str]:
        """The fleet's live processes (supervisord, haproxy, sample app): {pid: cmdline}."""
        return fleet_processes(self.workdir)

    def build_release(self, version: str, mode: str = "good", **options: float) -> Artifact:
        """Build a sample release into artifacts_dir (see fleet.artifacts.build_release)."""
        return build_release(self.artifacts_dir, version, mode, **options)

    def install_release(self, artifact: Artifact, hosts: Optional[Sequence[str]] = None,
                        wait: bool = True) -> Dict[str, str]:
        """Seed a release by hand on ``hosts`` (names; default all) in parallel; {host: supervisor state}."""
        chosen = [self.host(n) for n in hosts] if hosts is not None else self.hosts
        return self._each(lambda h: h.install_release(artifact, wait=wait), chosen)

    def versions(self) -> Dict[str, Optional[str]]:
        """{host name: version answering /version directly on the host, or None}."""
        return self._each(lambda h: h.version())

    def wait_lb(self, status: str = "UP", hosts: Optional[Sequence[str]] = None, timeout: float = 15.0) -> dict:
        """Wait until HAProxy reports ``status`` for the given servers (default all)."""
        return self.haproxy.wait_servers(status, hosts, timeout)

    def load(self, path: str = "/", **options: Any) -> LoadGenerator:
        """A LoadGenerator aimed at the front door (not started); options as LoadGenerator takes them.

        The default is steady yet light (2 clients, 20 ms apart): tens of requests a second, which
        proves a deployment drops none without taking the CPU the deployment itself needs."""
        options.setdefault("concurrency", 2)
        options.setdefault("pause", 0.02)
        return LoadGenerator(self.frontend_url.rstrip("/") + "/" + path.lstrip("/"), **options)

    def write_inventory(self, path: Optional[str] = None, extra_vars: Optional[dict] = None,
                        transport: Optional[Transport] = None) -> str:
        """Write the YAML inventory (default: inventory_path) and return its path; ``transport`` gives
        each host's connection variables (default: local, see fleet.inventory.build_inventory)."""
        inventory = build_inventory(self.hosts, self.haproxy.socket, BACKEND, extra_vars, transport)
        return write_inventory_file(path or self.inventory_path, inventory)

    def describe(self) -> dict:
        """Static description of the fleet (what fleet.json holds)."""
        return {
            "workdir": self.workdir,
            "base_address": self.base_address,
            "frontend_url": self.frontend_url,
            "inventory": self.inventory_path,
            "artifacts_dir": self.artifacts_dir,
            "hosts": [{"name": h.name, "address": h.address, "port": h.port, "root": h.root,
                       "supervisorctl": h.supervisorctl, "supervisord_pid": h.supervisord_pid()}
                      for h in self.hosts],
            "haproxy": {"lb_port": self.haproxy.lb_port, "socket": self.haproxy.socket,
                        "tcp_socket": self.haproxy.tcp_socket, "config": self.haproxy.config_path,
                        "master_pid": self.haproxy.master_pid(), "backend": BACKEND},
        }

    def save_state(self) -> str:
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.describe(), f, indent=2)
            f.write("\n")
        os.replace(tmp, self.state_path)
        return self.state_path

    @classmethod
    def attach(cls, workdir: str) -> "Fleet":
        """A Fleet object for a fleet started earlier (e.g. by ``python -m fleet up``) in ``workdir``."""
        path = os.path.join(os.path.abspath(workdir), STATE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            raise FleetError("no fleet state in %s: %s" % (path, e)) from e
        tcp = state["haproxy"].get("tcp_socket")
        return cls(workdir=state["workdir"], hosts=len(state["hosts"]), base_address=state["base_address"],
                   lb_port=state["haproxy"]["lb_port"], tcp_admin=bool(tcp),
                   tcp_admin_port=int(tcp.rsplit(":", 1)[1]) if tcp else None, keep_workdir=True)

    def status(self) -> dict:
        """Live status: per host supervisor state, current link and version; HAProxy server states."""
        try:
            servers = self.haproxy.server_states()
        except OSError as e:
            servers = {"error": str(e)}
        return {"hosts": list(self._each(lambda h: h.describe()).values()), "haproxy": servers,
                "frontend_url": self.frontend_url}

    def diagnostics(self, lines: int = 20) -> str:
        """Tails of every log in the work dir, for failure messages."""
        out = []
        for dirpath, dirnames, files in sorted(os.walk(self.workdir)):
            for name in sorted(files):
                if name.endswith((".log", ".stdout")):
                    path = os.path.join(dirpath, name)
                    try:
                        with open(path, encoding="utf-8", errors="replace") as f:
                            tail = f.read().splitlines()[-lines:]
                    except OSError:
                        continue
                    out.append("== %s\n%s" % (path, "\n".join(tail)))
        return "\n".join(out)
