# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real HAProxy in front of the fleet, plus a small independent runtime-API client for assertions.

The client here deliberately shares no code with the collection's HAProxy module_utils, so tests
can check what the code under test did through a second, separate path.
"""
from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

from fleet.procs import FleetError, check_socket_path, pid_alive, read_pidfile, stop_process, wait_until

HAPROXY_BIN = "/usr/sbin/haproxy"
BACKEND = "sample"

# srv_admin_state bits (HAProxy's enum srv_admin): forced/inherited/config/resolver/hostname maint, drain
ADMIN_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN_BITS = 0x08 | 0x10


def render_config(servers: Sequence[Tuple[str, str, int]], lb_port: int, rundir: str,
                  tcp_admin_port: Optional[int] = None, backend: str = BACKEND) -> str:
    """haproxy.cfg text for ``servers`` = [(name, address, port), ...]."""
    tcp_admin = ("    stats socket ipv4@127.0.0.1:%d level admin\n" % tcp_admin_port) if tcp_admin_port else ""
    server_lines = "".join("    server %s %s:%d check\n" % s for s in servers)
    return (
        "global\n"
        "    stats socket {rundir}/admin.sock mode 600 level admin\n"
        "{tcp_admin}"
        "    stats timeout 30s\n"
        "    server-state-file {rundir}/state\n"
        "\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 1s\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    retries 3\n"
        "    option redispatch\n"
        "    load-server-state-from-file global\n"
        "\n"
        "frontend fe_{backend}\n"
        "    bind 127.0.0.1:{lb_port}\n"
        "    default_backend {backend}\n"
        "\n"
        "backend {backend}\n"
        "    balance roundrobin\n"
        "    option httpchk GET /health\n"
        "    http-check expect status 200\n"
        "    default-server inter 500ms fastinter 150ms downinter 300ms fall 2 rise 2 weight 100\n"
        "{servers}"
    ).format(rundir=rundir, tcp_admin=tcp_admin, lb_port=lb_port, backend=backend, servers=server_lines)


def runtime_command(socket_path: str, command: str, timeout: float = 5.0) -> str:
    """Send one command to an HAProxy runtime API socket (unix path or host:port) and return the answer."""
    if os.path.isabs(socket_path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = socket_path
    else:
        host, colon, port = socket_path.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    with sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(command.encode("utf-8") + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _parse_table(text: str, sep: str) -> List[Dict[str, str]]:
    """Rows of a '# col col ...' headed answer (show stat: CSV, show servers state: spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.startswith("#")), None)
    if header_at is None:
        return []
    if sep == ",":
        names = lines[header_at][1:].strip().rstrip(",").split(",")
        reader = csv.reader(io.StringIO("\n".join(lines[header_at + 1:])))
        return [dict(zip(names, row)) for row in reader]
    names = lines[header_at][1:].split()
    return [dict(zip(names, line.split())) for line in lines[header_at + 1:] if not line.startswith("#")]


def admin_name(admin_state: int) -> str:
    """ready | drain | maint from a srv_admin_state bit field."""
    if admin_state & ADMIN_MAINT_BITS:
        return "maint"
    if admin_state & ADMIN_DRAIN_BITS:
        return "drain"
    return "ready"


class HAProxy:
    """HAProxy in master-worker mode, in the foreground of its own session, with an admin socket."""

    def __init__(self, rundir: str, servers: Sequence[Tuple[str, str, int]], lb_port: int,
                 tcp_admin_port: Optional[int] = None, backend: str = BACKEND) -> None:
        self.rundir = os.path.abspath(rundir)
        self.servers = list(servers)
        self.lb_port = lb_port
        self.tcp_admin_port = tcp_admin_port
        self.backend = backend
        self.config_path = os.path.join(self.rundir, "haproxy.cfg")
        self.socket = os.path.join(self.rundir, "admin.sock")
        self.state_file = os.path.join(self.rundir, "state")
        self.pidfile = os.path.join(self.rundir, "haproxy.pid")
        self.log_path = os.path.join(self.rundir, "haproxy.log")
        self._popen: Optional[subprocess.Popen] = None

    @property
    def tcp_socket(self) -> Optional[str]:
        """host:port of the TCP admin socket, when enabled."""
        return "127.0.0.1:%d" % self.tcp_admin_port if self.tcp_admin_port else None

    @property
    def frontend_url(self) -> str:
        return "http://127.0.0.1:%d/" % self.lb_port

    def write_config(self) -> None:
        """Render haproxy.cfg from ``servers`` (edit them, then write_config() and reload())."""
        check_socket_path(self.socket)
        os.makedirs(self.rundir, exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(render_config(self.servers, self.lb_port, self.rundir, self.tcp_admin_port, self.backend))

    def check_config(self) -> None:
        """Run ``haproxy -c``; raise FleetError with its output if the config is refused."""
        done = subprocess.run([HAPROXY_BIN, "-c", "-f", self.config_path], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=False)
        if done.returncode != 0:
            raise FleetError("haproxy refused %s: %s" % (self.config_path, done.stdout.decode("utf-8", "replace")))

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start HAProxy and wait until the admin socket answers."""
        self.write_config()
        self.check_config()
        if os.path.exists(self.state_file):  # a fresh start begins from the config, not an old run's state
            os.unlink(self.state_file)
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                [HAPROXY_BIN, "-W", "-db", "-f", self.config_path, "-p", self.pidfile],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.rundir)
        wait_until(self._answers, timeout, "haproxy admin socket %s answering" % self.socket,
                   describe=self._log_tail)

    def _answers(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            raise FleetError("haproxy exited with %s: %s" % (self._popen.returncode, self._log_tail()))
        return self.worker_pid() is not None

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "log tail: " + " | ".join(f.read().splitlines()[-5:])
        except OSError:
            return "no log"

    def master_pid(self) -> Optional[int]:
        if self._popen is not None:
            return self._popen.pid
        return read_pidfile(self.pidfile)

    def worker_pid(self) -> Optional[int]:
        """Pid of the worker answering the admin socket, None if none answers."""
        try:
            info = self.command("show info")
        except OSError:
            return None
        for line in info.splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        return None

    def command(self, command: str, timeout: float = 5.0) -> str:
        """One runtime API command over the unix admin socket."""
        return runtime_command(self.socket, command, timeout)

    def save_state(self) -> None:
        """Write ``show servers state`` to the state file so runtime changes survive a reload."""
        state = self.command("show servers state")
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(state)
        os.replace(tmp, self.state_file)

    def reload(self, timeout: float = 10.0) -> None:
        """Save server state, SIGUSR2 the master, wait until a new worker answers."""
        master = self.master_pid()
        if master is None or not pid_alive(master):
            raise FleetError("haproxy master is not running: cannot reload")
        old_worker = self.worker_pid()
        self.save_state()
        os.kill(master, signal.SIGUSR2)
        wait_until(lambda: self.worker_pid() not in (None, old_worker), timeout,
                   "haproxy reload (new worker replacing pid %s)" % old_worker, describe=self._log_tail)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop master and workers (SIGTERM, SIGKILL after ``timeout``)."""
        master = self.master_pid()
        if master is not None and pid_alive(master):
            stop_process(master, timeout=timeout, popen=self._popen)
        self._popen = None

    def stat_rows(self, backend: Optional[str] = None) -> List[Dict[str, str]]:
        """``show stat`` rows of the servers of ``backend`` (not FRONTEND/BACKEND lines)."""
        backend = backend or self.backend
        rows = _parse_table(self.command("show stat"), ",")
        return [r for r in rows if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")]

    def server_states(self, backend: Optional[str] = None) -> Dict[str, dict]:
        """{server: {"admin": ready|drain|maint, "weight": int, "status": str, "scur": int, ...}}.

        weight is the user weight (what ``set weight`` sets); eweight the effective one from show stat.
        """
        backend = backend or self.backend
        stats = {r["svname"]: r for r in self.stat_rows(backend)}
        states = _parse_table(self.command("show servers state %s" % backend), " ")
        result = {}
        for row in states:
            name = row["srv_name"]
            stat = stats.get(name, {})
            result[name] = {
                "admin": admin_name(int(row["srv_admin_state"])),
                "weight": int(row["srv_uweight"]),
                "status": stat.get("status", ""),
                "scur": int(stat.get("scur") or 0),
                "eweight": int(stat.get("weight") or 0),
                "stot": int(stat.get("stot") or 0),
                "hrsp_5xx": int(stat.get("hrsp_5xx") or 0),
            }
        return result

    def wait_servers(self, status: str = "UP", names: Optional[Sequence[str]] = None,
                     timeout: float = 15.0) -> Dict[str, dict]:
        """Wait until every server in ``names`` (default: all) reports ``status``; return the states."""
        wanted = list(names) if names is not None else [s[0] for s in self.servers]

        def reached() -> Optional[Dict[str, dict]]:
            states = self.server_states()
            ok = all(states.get(n, {}).get("status") == status for n in wanted)
            return states if ok else None
        return wait_until(reached, timeout, "haproxy servers %s %s" % (", ".join(wanted), status),
                          describe=lambda: repr({n: s["status"] for n, s in self.server_states().items()}))
