# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Round trips to the HAProxy runtime API (stats socket) over a unix socket or TCP."""

from __future__ import annotations

import re
import socket
import time

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

# First words of the replies HAProxy gives when a command is refused or names nothing.
ERROR_PREFIXES = (
    "Unknown command",
    "No such",
    "Can't find",
    "Permission denied",
    "Require ",
    "Missing ",
    "Invalid ",
    "Unsupported ",
)

_TCP_ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^:\[\]/]+)):(?P<port>\d{1,5})")


class HAProxyError(LastmileError):
    """An HAProxy runtime API call failed or HAProxy's state is not what was asked for."""


class NoFullAnswer(HAProxyError):
    """The commands went out, but HAProxy's answer to them did not come back whole.

    HAProxy may have acted on every command sent: a reload, for one, closes the connection
    between applying a change and answering.
    """


def parse_address(address: str) -> tuple:
    """Turn 'path', 'host:port' or '[v6]:port' into (family, sockaddr)."""
    if not address or not address.strip():
        raise HAProxyError("HAProxy socket address is empty; expected a unix socket path or host:port")
    address = address.strip()
    if "/" not in address:
        match = _TCP_ADDRESS.fullmatch(address)
        if match:
            port = int(match.group("port"))
            if not 0 < port < 65536:
                raise HAProxyError("HAProxy socket address %r has port %d; expected 1..65535" % (address, port))
            if match.group("v6") is not None:
                return socket.AF_INET6, (match.group("v6"), port)
            return socket.AF_INET, (match.group("host"), port)
    return socket.AF_UNIX, address


def split_replies(reply: str, count: int) -> list:
    """Split the reply to `count` commands joined with ';' into one output per command.

    HAProxy ends each command's output with an empty line, so a command with no
    output (a successful 'set ...') answers with just that empty line.
    """
    outputs = []
    current = []
    # The piece after the last newline is not a complete line.
    for line in reply.split("\n")[:-1]:
        if line == "":
            outputs.append("\n".join(current))
            current = []
            if len(outputs) == count:
                break
        else:
            current.append(line)
    if len(outputs) < count:
        raise NoFullAnswer(
            "HAProxy answered %d of %d commands; reply ended with %r"
            % (len(outputs), count, reply[-200:])
        )
    return outputs


def check_reply(command: str, output: str) -> None:
    """Raise HAProxyError when `output` is HAProxy refusing `command`."""
    first = output.lstrip().split("\n", 1)[0]
    if first.startswith(ERROR_PREFIXES):
        raise HAProxyError("HAProxy refused %r: %s" % (command, output.strip()))


def check_commands(commands: list) -> None:
    """Reject commands that would change the meaning of a ';'-joined line."""
    if not commands:
        raise HAProxyError("no HAProxy runtime command to send")
    for command in commands:
        if not command or any(char in command for char in ";\n\r"):
            raise HAProxyError(
                "HAProxy runtime command %r is empty or contains ';' or a newline" % (command,)
            )


class RuntimeClient:
    """HAProxy runtime API client; one connection per round trip (non-interactive mode)."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout
        self.family, self.sockaddr = parse_address(address)

    def run(self, commands: list, check: bool = True) -> list:
        """Send `commands` in one round trip; return one output per command.

        Raises HAProxyError when the socket cannot be used or, with `check`,
        when HAProxy refuses a command.
        """
        check_commands(commands)
        reply = self.round_trip("; ".join(commands) + "\n")
        outputs = split_replies(reply, len(commands))
        if check:
            for command, output in zip(commands, outputs):
                check_reply(command, output)
        return outputs

    def round_trip(self, payload: str) -> str:
        """Send `payload` on a new connection and read until HAProxy closes it.

        Raises HAProxyError when no connection could be made (nothing was sent), NoFullAnswer
        when the connection failed once made (HAProxy may have acted on the payload).
        """
        deadline = time.monotonic() + self.timeout
        try:
            sock = self._connect()
        except OSError as exc:
            raise HAProxyError("cannot connect to HAProxy socket %s: %s" % (self.address, _describe(exc)))
        chunks = []
        try:
            with sock:
                sock.sendall(payload.encode("utf-8"))
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise socket.timeout("timed out")
                    sock.settimeout(remaining)
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise NoFullAnswer(
                "HAProxy socket %s failed during %r: %s" % (self.address, payload.strip()[:200], _describe(exc))
            ) from None
        return b"".join(chunks).decode("utf-8", "replace")

    def _connect(self) -> socket.socket:
        if self.family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.sockaddr)
            except OSError:
                sock.close()
                raise
            return sock
        if self.family == socket.AF_INET6:
            host, port = self.sockaddr
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect((host, port, 0, 0))
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection(self.sockaddr, timeout=self.timeout)


def _describe(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return str(exc) or exc.__class__.__name__
