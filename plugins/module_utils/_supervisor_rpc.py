# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""supervisord's XML-RPC interface, reached the way supervisorctl reaches it.

supervisorctl is a Python program of its own: asking supervisord directly, from the module's
process, saves starting one for every start, stop or restart. The endpoint comes from the
supervisorctl command line the user gave (``-c FILE`` and that file's ``[supervisorctl]``
section, or ``-s URL``); where it cannot be told, the caller keeps using supervisorctl.
"""

from __future__ import annotations

import base64
import configparser
import http.client
import os
import socket
import xmlrpc.client
from typing import Any, Dict, Optional, Sequence
from urllib.parse import unquote, urlsplit

# supervisor's fault codes (supervisor.xmlrpc.Faults) and the words supervisorctl prints for them
FAULT_WORDS = {
    10: "no such process",
    20: "bad arguments",
    40: "abnormal termination",
    50: "spawn error",
    60: "already started",
    70: "not running",
    91: "no such group",
}
ALREADY_STARTED, NOT_RUNNING = 60, 70
# ours, not supervisor's: the call was sent and no answer came in time
NO_ANSWER = -1
# supervisorctl's own default when neither its command line nor its configuration names a server
DEFAULT_SERVERURL = "http://localhost:9001"


class Fault(Exception):
    """supervisord refused a call; ``words`` are what supervisorctl would print for it."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
        self.words = FAULT_WORDS.get(code, text.lower())


def endpoint_from_command(argv: Sequence[str]) -> Optional[Dict[str, Optional[str]]]:
    """``{serverurl, username, password}`` from a supervisorctl command line, None when it cannot be told."""
    options: Dict[str, Optional[str]] = {"configuration": None, "serverurl": None, "username": None, "password": None}
    short = {"-c": "configuration", "-s": "serverurl", "-u": "username", "-p": "password"}
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg in short and args:
            options[short[arg]] = args.pop(0)
        elif arg.startswith("--") and "=" in arg and arg[2:].split("=", 1)[0] in options:
            key, value = arg[2:].split("=", 1)
            options[key] = value
        elif arg[2:] in options and arg.startswith("--") and args:
            options[arg[2:]] = args.pop(0)
        else:
            return None  # an option this reading does not know: leave the command line to supervisorctl
    if options["configuration"] is None:
        if options["serverurl"] is None:
            return None  # supervisorctl would search its default configuration paths
        return {key: options[key] for key in ("serverurl", "username", "password")}
    section = _supervisorctl_section(options["configuration"])
    if section is None:
        return None
    return {key: options[key] if options[key] is not None else section.get(key, DEFAULT_SERVERURL if key == "serverurl" else None)
            for key in ("serverurl", "username", "password")}


def _supervisorctl_section(path: str) -> Optional[Dict[str, str]]:
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, ValueError, configparser.Error):  # ValueError: a NUL in the path, or not UTF-8
        return None
    if not parser.has_section("supervisorctl"):
        return {}
    here = os.path.dirname(os.path.abspath(path))
    section = {}
    for key, value in parser.items("supervisorctl"):
        if "%(" in value.replace("%(here)s", ""):
            return None  # other expansions (%(ENV_X)s) are supervisorctl's to make
        section[key] = value.replace("%(here)s", here)
    return section


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class _Transport(xmlrpc.client.Transport):
    def __init__(self, url: str, username: Optional[str], password: Optional[str], timeout: float):
        super().__init__()
        parts = urlsplit(url)
        self._unix_path = unquote(parts.path) if parts.scheme == "unix" else None
        self._netloc = parts.netloc
        self._auth = None
        if username:
            token = base64.b64encode(("%s:%s" % (username, password or "")).encode("utf-8")).decode("ascii")
            self._auth = "Basic " + token
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._unix_path is not None:
            return _UnixConnection(self._unix_path, self._timeout)
        return http.client.HTTPConnection(self._netloc, timeout=self._timeout)

    def send_headers(self, connection: http.client.HTTPConnection, headers: Any) -> None:
        if self._auth:
            connection.putheader("Authorization", self._auth)
        super().send_headers(connection, headers)


class SupervisorRPC:
    """Calls into supervisord; raises Fault for its refusals and OSError when it cannot be reached."""

    def __init__(self, serverurl: str, username: Optional[str] = None, password: Optional[str] = None,
                 timeout: float = 60.0):
        scheme = urlsplit(serverurl).scheme
        if scheme not in ("unix", "http"):
            raise ValueError("supervisor serverurl %r is not supported: expected unix:// or http://" % serverurl)
        self.serverurl, self._timeout = serverurl, timeout
        self._proxy = xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_Transport(serverurl, username, password, timeout))

    def call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault as fault:
            raise Fault(fault.faultCode, fault.faultString) from None
        except socket.timeout:
            # sent, and perhaps acted on: not a reason to try again through supervisorctl
            raise Fault(NO_ANSWER, "no answer from supervisord at %s within %gs" % (self.serverurl, self._timeout)) from None
        except xmlrpc.client.ProtocolError as exc:
            raise OSError("supervisord at %s answered HTTP %s %s" % (self.serverurl, exc.errcode, exc.errmsg)) from None


def rpc_from_command(argv: Sequence[str], timeout: float) -> Optional[SupervisorRPC]:
    """The RPC client for a supervisorctl command line, or None where supervisorctl must be used."""
    try:
        endpoint = endpoint_from_command(argv)
        if endpoint is None:
            return None
        return SupervisorRPC(endpoint["serverurl"] or DEFAULT_SERVERURL, endpoint["username"], endpoint["password"],
                             timeout=timeout)
    except ValueError:
        return None
