# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""supervisord's XML-RPC interface, reached the way supervisorctl reaches it, and supervisorctl's command line.

supervisorctl is a Python program of its own: asking supervisord directly, from the module's
process, saves starting one for every start, stop or restart. The endpoint comes from the
supervisorctl command line the user gave (``-c FILE`` and that file's ``[supervisorctl]``
section, or ``-s URL``); where it cannot be told, the caller keeps using supervisorctl.

The command line is read as supervisorctl reads it, so that a password in it (``-p``, ``-pX``,
``--password=X``, ``--pass X``, ...) is always found, taken out, and handed to supervisorctl
in a private configuration file instead.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import getopt
import http.client
import locale
import os
import shutil
import socket
import tempfile
import xmlrpc.client
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

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


class Fault(LastmileError):
    """supervisord refused a call; ``words`` are what supervisorctl would print for it."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
        self.words = FAULT_WORDS.get(code, text.lower())


class CommandLineError(LastmileError, ValueError):
    """A supervisorctl command line that supervisorctl would refuse, or that holds more than its options.

    Messages name options, never their values: a value may be a password.
    """


# supervisorctl's own options (supervisor.options.Options and ClientOptions), read with getopt as
# supervisorctl reads them: short options may carry their value (-pSECRET), long ones may be
# abbreviated (--pass=SECRET), and an option given twice is refused.
SHORT_OPTIONS = "h?c:is:u:p:r:"
LONG_OPTIONS = ["help", "configuration=", "interactive", "serverurl=", "username=", "password=", "history_file="]
OPTION_KEYS = {
    "-h": "help", "-?": "help", "--help": "help",
    "-c": "configuration", "--configuration": "configuration",
    "-i": "interactive", "--interactive": "interactive",
    "-s": "serverurl", "--serverurl": "serverurl",
    "-u": "username", "--username": "username",
    "-p": "password", "--password": "password",
    "-r": "history_file", "--history_file": "history_file",
}
ENDPOINT_KEYS = ("serverurl", "username", "password")


def search_paths(program: str) -> List[str]:
    """Where supervisorctl looks for its configuration without -c, first found first.

    ``here`` is two levels above the supervisorctl that runs, as the program's own path (the
    one found on PATH for a bare name) names it.
    """
    found = program if os.sep in program else (shutil.which(program) or program)
    here = os.path.dirname(os.path.dirname(found))
    return [os.path.join(here, "etc", "supervisord.conf"), os.path.join(here, "supervisord.conf"), "supervisord.conf",
            "etc/supervisord.conf", "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"]


class SupervisorctlCommand:
    """A supervisorctl command line read the way supervisorctl reads it, with its password kept apart.

    ``password`` is one given apart from the command line. The command line to run comes from
    ``command_line()``: where there is a password, it goes to supervisorctl in a private
    configuration file, never as an argument (every process listing shows arguments).
    """

    def __init__(self, argv: Sequence[str], password: Optional[str] = None):
        if not argv or not argv[0]:
            raise CommandLineError("supervisorctl command line is empty: expected the supervisorctl program first")
        self.program = argv[0]
        self._argv = list(argv)
        try:
            pairs, rest = getopt.getopt(list(argv[1:]), SHORT_OPTIONS, LONG_OPTIONS)
        except getopt.GetoptError as exc:  # its message names the option only
            raise CommandLineError("supervisorctl would refuse its command line: %s" % exc) from None
        self.options: List[Tuple[str, str]] = []  # (option as getopt names it, value), the password left out
        self.given: Dict[str, str] = {}
        for option, value in pairs:
            key = OPTION_KEYS[option]
            if key == "password" and password is not None:
                raise CommandLineError("a supervisor password is given both on the supervisorctl command line (%s) "
                                       "and apart from it: expected it once" % option)
            if key in self.given:
                raise CommandLineError("supervisorctl would refuse its command line: %s is given more than once" % option)
            if key == "help":
                raise CommandLineError("supervisorctl %s prints its help and does nothing else: expected no %s"
                                       % (option, option))
            self.given[key] = value
            if key != "password":
                self.options.append((option, value))
        if rest:
            # they may be anything, a password written without -p among them: counted, not shown
            raise CommandLineError(
                "supervisorctl command line holds %d argument(s) after its options: expected options only "
                "(-c FILE, -s URL, -u USER, ...), the action and the program are added to it" % len(rest))
        self.password = password if password is not None else self.given.pop("password", None)

    def configuration(self) -> Optional[str]:
        """The configuration file supervisorctl reads: -c, else the first of its search paths that exists."""
        if "configuration" in self.given:
            return self.given["configuration"]
        return next((path for path in search_paths(self.program) if os.path.exists(path)), None)

    def endpoint(self) -> Optional[Dict[str, Optional[str]]]:
        """``{serverurl, username, password}`` as supervisorctl would use them, None when that cannot be told.

        Only for a command line that names the configuration (-c) or the server (-s); expansions
        other than ``%(here)s`` in the server URL (``%(ENV_X)s``) are left to supervisorctl.
        """
        if "configuration" not in self.given and "serverurl" not in self.given:
            return None
        path = self.configuration()
        try:
            section = {} if path is None else _supervisorctl_section(path)
        except CommandLineError:
            return None  # supervisorctl says why
        here = os.path.dirname(os.path.normpath(os.path.abspath(path))) if path else ""
        endpoint: Dict[str, Optional[str]] = {}
        for key in ENDPOINT_KEYS:
            value = self.password if key == "password" and self.password is not None else self.given.get(key)
            if value is None and key in section:
                value = _expand(section[key], {"here": here} if key == "serverurl" else {})
                if value is None:
                    return None
                if key == "serverurl" and value.startswith("unix://"):
                    value = "unix://" + os.path.normpath(os.path.abspath(os.path.expanduser(value[len("unix://"):])))
            endpoint[key] = value
        endpoint["serverurl"] = endpoint["serverurl"] or DEFAULT_SERVERURL
        return endpoint

    def rpc(self, timeout: float) -> Optional["SupervisorRPC"]:
        """The XML-RPC client for this command line, or None where supervisorctl must be run."""
        endpoint = self.endpoint()
        if endpoint is None:
            return None
        try:
            return SupervisorRPC(endpoint["serverurl"] or DEFAULT_SERVERURL, endpoint["username"], endpoint["password"],
                                 timeout=timeout)
        except ValueError:
            return None

    @contextlib.contextmanager
    def command_line(self, private_dir: Optional[str] = None) -> Iterator[List[str]]:
        """The supervisorctl command line to run within the ``with`` block, without the password.

        With a password, supervisorctl is given a configuration file of its own (mode 0600, in
        ``private_dir``, removed when the block ends) with the password and the server URL and
        username of the configuration it would have read, and the other options as given.
        """
        if self.password is None:
            yield list(self._argv)
            return
        text = self._private_configuration()
        handle, path = tempfile.mkstemp(prefix="supervisorctl-", suffix=".conf", dir=private_dir)
        try:
            with os.fdopen(handle, "w") as out:  # the locale's encoding, as supervisorctl reads it
                out.write(text)
            argv = [self.program]
            for option, value in self.options:
                if OPTION_KEYS[option] != "configuration":
                    argv += [option] if OPTION_KEYS[option] == "interactive" else [option, value]
            yield argv + ["-c", path]
        finally:
            os.unlink(path)

    def _private_configuration(self) -> str:
        path = self.configuration()
        section = {} if path is None else _supervisorctl_section(path)
        lines = ["; for one supervisorctl run, removed after it", "[supervisorctl]"]
        for key in ("serverurl", "username"):
            if key in section:  # as written there: supervisorctl expands it again when it reads this file
                value = section[key]
                if key == "serverurl" and path:
                    here = os.path.dirname(os.path.normpath(os.path.abspath(path)))
                    value = value.replace("%(here)s", here.replace("%", "%%"))
                lines.append("%s=%s" % (key, value.replace("\n", "\n\t")))
        lines.append("password=%s" % configuration_value(self.password or ""))
        text = "\n".join(lines) + "\n"
        try:
            text.encode(locale.getpreferredencoding(False))
        except (UnicodeError, LookupError):
            raise CommandLineError("the supervisor password cannot be written in this host's encoding (%s) for "
                                   "supervisorctl to read" % locale.getpreferredencoding(False)) from None
        return text


def configuration_value(value: str) -> str:
    """``value`` written so that supervisorctl's configuration reader gives it back unchanged.

    Raises CommandLineError (naming no value) when no such writing exists.
    """
    comment = any(char in ";#" and value[index - 1].isspace() for index, char in enumerate(value) if index)
    if "\n" in value or "\r" in value or value != value.strip() or comment:
        raise CommandLineError(
            "the supervisor password cannot be handed to supervisorctl in a configuration file: it holds a line break, "
            "white space at either end, or ';' or '#' after white space, which supervisorctl's reader would not "
            "give back; expected a password without these, or a supervisord reached over XML-RPC (-c FILE or -s URL)")
    return value.replace("%", "%%")


def _expand(value: str, expansions: Dict[str, str]) -> Optional[str]:
    """A configuration value expanded as supervisor expands it; None where the expansion is supervisorctl's own."""
    try:
        return value % expansions
    except KeyError:
        return None  # %(ENV_X)s: the environment supervisorctl runs in
    except (ValueError, TypeError):
        return None  # a lone '%': supervisorctl refuses it and says so


def _supervisorctl_section(path: str) -> Dict[str, str]:
    """The ``[supervisorctl]`` section as written (unexpanded), read as supervisor reads it."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        with open(path) as handle:  # the locale's encoding, as supervisorctl opens it
            parser.read_file(handle)
    except (OSError, ValueError, configparser.Error) as exc:  # ValueError: a NUL in the path, or not decodable
        raise CommandLineError("cannot read the supervisorctl configuration %s: %s" % (path, exc)) from None
    if not parser.has_section("supervisorctl"):
        raise CommandLineError("the supervisorctl configuration %s has no [supervisorctl] section, "
                               "so supervisorctl would refuse it" % path)
    return dict(parser.items("supervisorctl"))


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
