# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy backends and servers through the runtime API: read, change, wait."""

from __future__ import annotations

import time

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import (
    HAProxyError,
    NoFullAnswer,
    RuntimeClient,
    check_reply,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    Server,
    merge_servers,
    parse_servers_state,
    parse_stat,
    plan_commands,
    require_servers,
    stat_backends,
    validate_name,
)

DEFAULT_SOCKET = "/run/haproxy/admin.sock"


class CommandsSent(HAProxyError):
    """A change failed after its commands reached HAProxy: ``commands`` were sent, and ``applied`` says
    whether HAProxy applied (or may have applied) any of them."""

    def __init__(self, message: str, commands: list, applied: bool):
        super().__init__(message, result=dict(changed=applied, commands=list(commands)))
        self.commands = list(commands)
        self.applied = applied


class ChangeUnconfirmed(CommandsSent):
    """Commands were sent, and the answer that would confirm them (and read the backend back) did not come."""

    def __init__(self, address: str, backend: str, commands: list, reason: str):
        super().__init__(
            "sent %s to HAProxy at %s, then reading backend '%s' back failed: %s; HAProxy may have applied them "
            "(a reload closes the connection before it answers)" % ("; ".join(commands), address, backend, reason),
            commands, applied=True,
        )


class HAProxy:
    """One HAProxy process, addressed by its admin socket path or host:port."""

    def __init__(self, address: str = DEFAULT_SOCKET, timeout: float = 10.0):
        self.client = RuntimeClient(address, timeout=timeout)

    @property
    def address(self) -> str:
        return self.client.address

    def servers(self, backend: str) -> dict:
        """{name: Server} for `backend`, read in one round trip."""
        validate_name(backend, "backend")
        state_out, stat_out = self.client.run(self._read_commands(backend), check=False)
        return self._backend_servers(backend, state_out, stat_out)

    def backends(self) -> dict:
        """{backend: {name: Server}} for every backend, read in one round trip."""
        state_out, stat_out = self.client.run(["show servers state", "show stat"])
        stat_rows = parse_stat(stat_out)
        merged = merge_servers(parse_servers_state(state_out), stat_rows)
        return {backend: merged.get(backend, {}) for backend in stat_backends(stat_rows)}

    def execute(self, backend: str, commands: list) -> dict:
        """Send `commands` and read `backend` back, all in one round trip; return its servers.

        Raises ChangeUnconfirmed when the commands went out and the answer did not come back whole,
        CommandsSent when HAProxy refused some of them.
        """
        validate_name(backend, "backend")
        try:
            outputs = self.client.run(list(commands) + self._read_commands(backend), check=False)
        except NoFullAnswer as exc:
            raise ChangeUnconfirmed(self.address, backend, commands, str(exc)) from None
        refused = [(command, output.strip()) for command, output in zip(commands, outputs) if output.strip()]
        if refused:
            raise CommandsSent(
                "HAProxy at %s refused %s; the other %d command(s) of the same batch were applied"
                % (
                    self.address,
                    "; ".join("%r: %s" % pair for pair in refused),
                    len(commands) - len(refused),
                ),
                commands,
                applied=len(refused) < len(commands),
            )
        return self._backend_servers(backend, outputs[-2], outputs[-1])

    def apply(self, backend: str, changes: dict) -> tuple:
        """Bring servers to `changes` ({name: {'admin': ..., 'weight': ...}}); return (before, after).

        Only what differs is sent, in one round trip; nothing is sent when a name is unknown.
        """
        before = self.servers(backend)
        commands = plan_commands(backend, before, changes)
        after = self.execute(backend, commands) if commands else before
        return before, after

    def wait_drained(
        self, backend: str, names, timeout: float = 60.0, interval: float = 0.2, maint_is_drained: bool = True
    ) -> dict:
        """Wait until each named server has no current or queued sessions; return the last read.

        A DOWN server counts as drained, and so does one in maintenance unless
        `maint_is_drained` is false (then its in-flight sessions are waited for).
        """

        def holding(server: Server) -> bool:
            if server.down or (maint_is_drained and server.admin == "maint"):
                return False
            return server.sessions > 0 or server.queued > 0

        def describe(server: Server) -> str:
            return "%s (%d sessions, %d queued)" % (server.name, server.sessions, server.queued)

        return self._wait(backend, names, timeout, interval, holding, describe, "still holding sessions")

    def wait_up(self, backend: str, names, timeout: float = 60.0, interval: float = 0.2) -> dict:
        """Wait until HAProxy's health checks report each named server fully UP; return the last read.

        'UP 1/3' does not count: HAProxy shows it while checks fail and right after a
        server leaves maintenance, before any check has confirmed it.
        """

        def describe(server: Server) -> str:
            return "%s (status %s, check %s)" % (server.name, server.status or "unknown", server.check_status or "none")

        return self._wait(backend, names, timeout, interval, lambda server: not server.healthy, describe, "not UP")

    def _wait(self, backend, names, timeout, interval, pending, describe, what) -> dict:
        names = list(names)
        deadline = time.monotonic() + max(float(timeout), 0.0)
        while True:
            servers = self.servers(backend)
            require_servers(backend, servers, names)
            waiting = [servers[name] for name in names if pending(servers[name])]
            if not waiting:
                return servers
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HAProxyError(
                    "servers in backend '%s' %s after %gs: %s"
                    % (backend, what, float(timeout), ", ".join(describe(server) for server in waiting))
                )
            time.sleep(min(max(float(interval), 0.01), remaining))

    def _read_commands(self, backend: str) -> list:
        # Unfiltered 'show stat' also lists every backend, for the unknown-backend message.
        return ["show servers state %s" % backend, "show stat"]

    def _backend_servers(self, backend: str, state_out: str, stat_out: str) -> dict:
        check_reply("show stat", stat_out)
        stat_rows = parse_stat(stat_out)
        if state_out.startswith(("Can't find backend", "No such backend")):
            raise HAProxyError(
                "backend '%s' not found in HAProxy at %s; known backends: %s"
                % (backend, self.address, ", ".join(stat_backends(stat_rows)) or "none")
            )
        check_reply("show servers state %s" % backend, state_out)
        return merge_servers(parse_servers_state(state_out), stat_rows).get(backend, {})
