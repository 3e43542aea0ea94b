# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process, port and waiting helpers shared by the fleet pieces."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


# sun_path holds 108 bytes; supervisord and haproxy first bind "<path>.<pid>[.tmp]" and rename it
MAX_SOCKET_PATH = 90


class FleetError(Exception):
    """The test fleet could not reach the state it was asked for."""


def check_socket_path(path: str) -> None:
    """Refuse a unix socket path too long to bind (name it and the limit)."""
    if len(path) > MAX_SOCKET_PATH:
        raise FleetError("unix socket path %r is %d chars: expected at most %d (use a shorter work dir)"
                         % (path, len(path), MAX_SOCKET_PATH))


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1,
               describe: Optional[Callable[[], str]] = None) -> T:
    """Poll ``check`` until it returns a truthy value; raise FleetError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = "; %s" % describe() if describe else ""
            raise FleetError("%s: not reached within %.1fs%s" % (what, timeout, detail))
        time.sleep(interval)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def port_open(address: str, port: int, timeout: float = 0.3) -> bool:
    """True if something accepts TCP connections on address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    # the state letter follows the parenthesised command name, which may itself hold spaces
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def read_pidfile(path: str) -> Optional[int]:
    """The pid in ``path``, or None if the file is missing or empty."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip().splitlines()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None


def processes_using(workdir: str) -> dict:
    """Processes whose command line mentions ``workdir`` or whose cwd lies inside it: {pid: cmdline}."""
    root = os.path.realpath(workdir)
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            continue
        if not pid_alive(pid):
            continue
        if root in cmdline or workdir in cmdline or cwd == root or cwd.startswith(root + "/"):
            found[pid] = cmdline
    return found


def process_kind(cmdline: str) -> Optional[str]:
    """supervisord, haproxy or app for a fleet process's command line, None for anything else."""
    argv = cmdline.split()
    names = [os.path.basename(a) for a in argv[:2]]
    if "supervisord" in names:
        return "supervisord"
    if "haproxy" in names:
        return "haproxy"
    if len(argv) > 2 and argv[1] == "app.py" and argv[2] == "--host":
        return "app"
    return None


def fleet_processes(workdir: str) -> dict:
    """The fleet's own processes tied to ``workdir`` (supervisord, haproxy, the sample app): {pid: cmdline}."""
    return {pid: cmd for pid, cmd in processes_using(workdir).items() if process_kind(cmd)}


def stop_process(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0,
                 popen: Optional[subprocess.Popen] = None) -> bool:
    """Send ``sig``, wait up to ``timeout``, then SIGKILL. True if it stopped without the kill."""
    if not pid_alive(pid):
        _reap(popen)
        return True
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        _reap(popen)
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            popen.poll()
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(popen)
    wait_until(lambda: not pid_alive(pid), 5.0, "pid %d gone after SIGKILL" % pid, interval=0.05)
    return False


def _reap(popen: Optional[subprocess.Popen]) -> None:
    if popen is None:
        return
    try:
        popen.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        pass


def kill_leftovers(workdir: str) -> dict:
    """SIGKILL every fleet process still tied to ``workdir`` (last resort); return what was killed."""
    leftovers = fleet_processes(workdir)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if leftovers:
        wait_until(lambda: not any(pid_alive(p) for p in leftovers), 5.0,
                   "leftover processes gone after SIGKILL", interval=0.05)
    return leftovers
