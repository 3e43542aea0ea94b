# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, stop and restart the application under systemd or supervisor, and wait until it runs.

One call does what a playbook would do in three tasks (the command, a status poll with retries,
a check), polling every few tenths of a second instead of every second.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.service.supervisor import (
    ALREADY_STARTED,
    NOT_RUNNING,
    CommandLineError,
    Fault,
    SupervisorctlCommand,
)

# (argv) -> (rc, stdout, stderr)
Runner = Callable[[List[str]], Tuple[int, str, str]]

MANAGERS = ("systemd", "supervisor")
STATES = ("started", "stopped", "restarted")
POLL_INTERVAL = 0.2
# supervisor states after which waiting longer cannot help
SUPERVISOR_GAVE_UP = ("FATAL", "EXITED", "STOPPED", "UNKNOWN")


class ServiceError(LastmileError):
    """The service could not be brought to the state asked for."""


class Service:
    """One service of one manager, driven through its command line or, under supervisor, its XML-RPC."""

    def __init__(self, manager: str, name: str, run: Runner,
                 supervisorctl: Union[Sequence[str], SupervisorctlCommand] = ("supervisorctl",),
                 systemctl: Sequence[str] = ("systemctl",), rpc: Any = None, private_dir: Optional[str] = None):
        """``private_dir`` holds the short-lived supervisorctl configuration that carries a password."""
        if manager not in MANAGERS:
            raise ServiceError("service manager %r is not supported: expected one of %s" % (manager, ", ".join(MANAGERS)))
        if not name:
            raise ServiceError("service name is empty: expected a unit or program name")
        self.manager, self.name, self._run = manager, name, run
        self._systemctl = list(systemctl)
        self._supervisorctl = None
        if manager == "supervisor":
            try:
                self._supervisorctl = (supervisorctl if isinstance(supervisorctl, SupervisorctlCommand)
                                       else SupervisorctlCommand(list(supervisorctl)))
            except CommandLineError as exc:
                raise ServiceError(str(exc)) from None
        self._private_dir = private_dir
        # a SupervisorRPC (or None): used until supervisord cannot be reached, then supervisorctl
        self._rpc = rpc if manager == "supervisor" and ":" not in name else None

    def _command(self, verb: str) -> Tuple[int, str, str]:
        if self._supervisorctl is None:
            return self._run(self._systemctl + [verb, self.name])
        try:
            with self._supervisorctl.command_line(self._private_dir) as argv:
                return self._run(argv + [verb, self.name])
        except CommandLineError as exc:
            raise ServiceError("cannot run supervisorctl %s %s: %s" % (verb, self.name, exc)) from None

    def _rpc_answer(self, method: str, *args: Any) -> Optional[Any]:
        """supervisord's answer to ``method`` for the program; None when it cannot be reached."""
        try:
            return self._rpc.call(method, self.name, *args)
        except OSError:
            self._rpc = None
            return None

    def status(self) -> str:
        """RUNNING, STARTING, STOPPED, FATAL, ... (supervisor) or active, inactive, failed, ... (systemd)."""
        if self._rpc is not None:
            try:
                info = self._rpc_answer("getProcessInfo")
            except Fault as fault:
                raise ServiceError("supervisor does not report program %s: %s" % (self.name, fault)) from None
            if info is not None:
                return info["statename"]
        rc, out, err = self._command("status" if self.manager == "supervisor" else "is-active")
        words = out.split()
        if self.manager == "supervisor":
            if len(words) >= 2 and words[0] == self.name:
                return words[1]
            raise ServiceError("supervisor does not report program %s: %s" % (self.name, _last_line(out, err, rc)))
        return words[0] if words else "unknown"

    def running(self) -> bool:
        return self.status() in ("RUNNING", "active")

    def _act_rpc(self, verb: str) -> Optional[str]:
        """What supervisorctl would print for ``verb``; None when supervisord cannot be reached."""
        # (method, what it does, the refusal that is no failure, its words)
        steps = [("stopProcess", "stopped", NOT_RUNNING, "not running"), ("startProcess", "started", ALREADY_STARTED, "already started")]
        wanted = {"stop": steps[:1], "start": steps[1:], "restart": steps}[verb]
        lines = []
        for method, done, harmless, words in wanted:
            try:
                if self._rpc_answer(method, True) is None:  # wait: until stopped, or RUNNING after startsecs
                    return None
                lines.append("%s: %s" % (self.name, done))
            except Fault as fault:
                if fault.code != harmless:
                    what = "could not stop %s" % self.name if method == "stopProcess" else "%s of %s did not start it" % (verb, self.name)
                    raise ServiceError("supervisor %s: %s: ERROR (%s)" % (what, self.name, fault.words)) from None
                lines.append("%s: ERROR (%s)" % (self.name, words))
        return "\n".join(lines)

    def _act(self, verb: str) -> str:
        if self._rpc is not None:
            answer = self._act_rpc(verb)
            if answer is not None:
                return answer
        rc, out, err = self._command(verb)
        if self.manager == "systemd":
            if rc != 0:
                raise ServiceError("systemctl %s %s failed: %s" % (verb, self.name, _last_line(out, err, rc)))
            return out
        if verb == "stop":
            if rc != 0 and "not running" not in out:
                raise ServiceError("supervisorctl stop %s failed: %s" % (self.name, _last_line(out, err, rc)))
        elif verb == "start" and rc != 0 and "already started" not in out:
            raise ServiceError("supervisorctl start %s failed: %s" % (self.name, _last_line(out, err, rc)))
        elif verb == "restart" and not any(line.endswith(": started") for line in out.splitlines()):
            # the stop half may say "not running" (first deployment); the start half must succeed
            raise ServiceError("supervisorctl restart %s did not start it: %s" % (self.name, _last_line(out, err, rc)))
        return out

    def wait_running(self, timeout: float, clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> str:
        """Poll until the service runs; raise naming the last status after ``timeout`` seconds."""
        deadline = clock() + timeout
        while True:
            status = self.status()
            if status in ("RUNNING", "active"):
                return status
            if status in SUPERVISOR_GAVE_UP or status == "failed" or clock() >= deadline:
                raise ServiceError("%s is not running after %gs: %s" % (self.name, timeout, status))
            sleep(POLL_INTERVAL)

    def _started(self, output: str, timeout: float) -> str:
        # supervisorctl answers "started" only once the program has stayed up for its startsecs
        # (startProcess with wait), so asking again would cost one more supervisorctl run.
        if self.manager == "supervisor" and any(line.endswith(": started") for line in output.splitlines()):
            return "RUNNING"
        return self.wait_running(timeout)

    def ensure(self, state: str, timeout: float, check_mode: bool = False) -> Tuple[bool, Optional[str]]:
        """Bring the service to ``state``; returns (changed, status afterwards or None in check mode)."""
        if state not in STATES:
            raise ServiceError("service state %r is not supported: expected one of %s" % (state, ", ".join(STATES)))
        if state == "restarted":
            if check_mode:
                return True, None
            return True, self._started(self._act("restart"), timeout)
        running = self.running()
        wanted = state == "started"
        if running == wanted:
            return False, self.status()
        if check_mode:
            return True, None
        if wanted:
            return True, self._started(self._act("start"), timeout)
        self._act("stop")
        return True, self.status()


def _last_line(out: str, err: str, rc: int) -> str:
    lines = [line for line in (out + "\n" + err).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "exit code %d, no output" % rc
