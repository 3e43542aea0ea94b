# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet host: a directory tree, its own supervisord and the sample program on address:8080."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import xmlrpc.client
from typing import List, Optional, Tuple

from fleet.artifacts import Artifact
from fleet.procs import (FleetError, check_socket_path, pid_alive, port_open, read_pidfile, stop_process,
                         wait_until)

PROGRAM = "sample"
APP_PORT = 8080
NOT_RUNNING = ("FATAL", "BACKOFF", "EXITED", "STOPPED")

SUPERVISORD_CONF = """\
[unix_http_server]
file={sock}
chmod=0700
{credentials}
[supervisord]
logfile={svdir}/supervisord.log
pidfile={svdir}/supervisord.pid
childlogdir={svdir}
nodaemon=true
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[program:{program}]
command={python} app.py --host {address} --port {port}
directory={root}/current
autostart=true
autorestart=unexpected
startsecs=1
startretries=1
stopsignal=TERM
stopwaitsecs=10
killasgroup=true
stdout_logfile={hostdir}/{program}.out.log
stderr_logfile={hostdir}/{program}.err.log
"""


class FleetHost:
    """A loopback "host": ``<workdir>/<name>/`` with app/ (the deploy_root) and sv/ (supervisord)."""

    def __init__(self, name: str, address: str, workdir: str, port: int = APP_PORT) -> None:
        self.name = name
        self.address = address
        self.port = port
        self.hostdir = os.path.join(os.path.abspath(workdir), name)
        self.root = os.path.join(self.hostdir, "app")
        self.svdir = os.path.join(self.hostdir, "sv")
        self.conf = os.path.join(self.svdir, "supervisord.conf")
        self.socket = os.path.join(self.svdir, "supervisor.sock")
        self.pidfile = os.path.join(self.svdir, "supervisord.pid")
        self._popen: Optional[subprocess.Popen] = None
        # (username, password) supervisord asks for, None for none (the default)
        self.credentials: Optional[Tuple[str, str]] = None
        # the harness's own supervisorctl configuration when supervisord asks for credentials
        self._harness_conf = os.path.join(self.svdir, "harness-supervisorctl.conf")

    def require_credentials(self, username: str, password: str) -> None:
        """Before start(): supervisord asks every client for this username and password.

        The [supervisorctl] section of supervisord.conf keeps only serverurl, so whoever drives the
        host (deploy_supervisorctl) must bring the credentials; the harness itself reads them from a
        0600 file of its own, never from a command line.
        """
        self.credentials = (username, password)

    def __repr__(self) -> str:
        return "FleetHost(%s %s:%d)" % (self.name, self.address, self.port)

    @property
    def supervisorctl(self) -> str:
        """The supervisorctl command line for this host (what deploy_supervisorctl takes)."""
        return "%s -c %s" % (shlex.quote(os.path.join(sys.prefix, "bin", "supervisorctl")), shlex.quote(self.conf))

    @property
    def url(self) -> str:
        return "http://%s:%d/" % (self.address, self.port)

    def write_config(self) -> None:
        """Create the directory tree and supervisord.conf."""
        check_socket_path(self.socket)
        for path in (self.root, self.svdir):
            os.makedirs(path, exist_ok=True)
        credentials = ""
        if self.credentials is not None:
            credentials = "username=%s\npassword=%s\n" % self.credentials
            with os.fdopen(os.open(self._harness_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                           encoding="utf-8") as f:
                f.write("[supervisorctl]\nserverurl=unix://%s\nusername=%s\npassword=%s\n"
                        % ((self.socket,) + self.credentials))
        text = SUPERVISORD_CONF.format(sock=self.socket, svdir=self.svdir, hostdir=self.hostdir, root=self.root,
                                       program=PROGRAM, python=sys.executable, address=self.address, port=self.port,
                                       credentials=credentials)
        if self.credentials is not None:  # it holds the password: readable by its owner only
            with os.fdopen(os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
                f.write(text)
            return
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(text)

    def start(self) -> None:
        """Start supervisord in the foreground of its own session (it outlives a CLI that starts it)."""
        if port_open(self.address, self.port):
            raise FleetError("%s: %s:%d already answers before the fleet started: expected a free port"
                             % (self.name, self.address, self.port))
        self.write_config()
        with open(os.path.join(self.svdir, "supervisord.stdout"), "ab") as out:
            self._popen = subprocess.Popen(
                [os.path.join(sys.prefix, "bin", "supervisord"), "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.hostdir)

    def wait_started(self, timeout: float = 15.0) -> None:
        """Wait until supervisord answers on its socket."""
        def answers() -> bool:
            if self._popen is not None and self._popen.poll() is not None:
                raise FleetError("%s: supervisord exited with %s; see %s"
                                 % (self.name, self._popen.returncode, os.path.join(self.svdir, "supervisord.log")))
            try:
                return self._rpc("getState")["statename"] == "RUNNING"
            except (OSError, xmlrpc.client.Error):
                return False
        wait_until(answers, timeout, "%s: supervisord answering on %s" % (self.name, self.socket))

    def supervisord_pid(self) -> Optional[int]:
        if self._popen is not None:
            return self._popen.pid
        return read_pidfile(self.pidfile)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop supervisord (which stops the program gracefully); SIGKILL after ``timeout``."""
        pid = self.supervisord_pid()
        if pid is not None and pid_alive(pid):
            stop_process(pid, timeout=timeout, popen=self._popen)
        self._popen = None

    def _rpc(self, method: str, *args: object) -> object:
        """One call to supervisord's XML-RPC interface over its unix socket."""
        from supervisor.xmlrpc import SupervisorTransport
        username, password = self.credentials or (None, None)
        transport = SupervisorTransport(username, password, serverurl="unix://" + self.socket)
        try:
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            return getattr(proxy.supervisor, method)(*args)
        finally:
            transport.close()

    def process_info(self) -> Optional[dict]:
        """supervisord's info for the program (statename, pid, ...), None if supervisord does not answer."""
        try:
            return self._rpc("getProcessInfo", PROGRAM)
        except (OSError, xmlrpc.client.Error):
            return None

    def status(self) -> str:
        """The program's supervisor state (RUNNING, STARTING, BACKOFF, FATAL, ...) or DOWN if supervisord is gone."""
        info = self.process_info()
        return info["statename"] if info else "DOWN"

    def version(self, timeout: float = 1.0) -> Optional[str]:
        """GET /version directly from the host; None if it does not answer 200."""
        try:
            with urllib.request.urlopen("http://%s:%d/version" % (self.address, self.port), timeout=timeout) as r:
                return r.read().decode("utf-8").strip() if r.status == 200 else None
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def health(self, timeout: float = 1.0) -> Optional[int]:
        """HTTP status of GET /health directly on the host; None if nothing answers."""
        try:
            with urllib.request.urlopen("http://%s:%d/health" % (self.address, self.port), timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def current_target(self) -> Optional[str]:
        """Where root/current points (as stored in the link), None if it does not exist."""
        try:
            return os.readlink(os.path.join(self.root, "current"))
        except OSError:
            return None

    def install_release(self, artifact: Artifact, restart: bool = True, wait: bool = True,
                        timeout: float = 20.0) -> str:
        """Put a release in place by hand (for seeding test states): unpack, relink, restart.

        Returns the program's supervisor state afterwards. With ``wait``, waits until the
        new version answers /version, or, for a ``nostart`` build, until supervisor gives up (FATAL).
        """
        releases = os.path.join(self.root, "releases")
        target = os.path.join(releases, artifact.version)
        os.makedirs(releases, exist_ok=True)
        if not os.path.isdir(target):
            tmp = target + ".tmp-fleet"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            with tarfile.open(artifact.path) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:
                    tar.extractall(tmp)
            os.rename(tmp, target)
        link_tmp = os.path.join(self.root, "current.tmp-fleet")
        if os.path.lexists(link_tmp):
            os.unlink(link_tmp)
        os.symlink(os.path.join("releases", artifact.version), link_tmp)
        os.replace(link_tmp, os.path.join(self.root, "current"))
        if not restart:
            return self.status()
        cmd = self._harness_supervisorctl() + ["restart", PROGRAM]
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, check=False)
        if wait:
            self._wait_release(target, artifact.version, timeout)
        return self.status()

    def _harness_supervisorctl(self) -> List[str]:
        if self.credentials is None:
            return shlex.split(self.supervisorctl)
        return [os.path.join(sys.prefix, "bin", "supervisorctl"), "-c", self._harness_conf]

    def _wait_release(self, release_dir: str, version: str, timeout: float) -> None:
        with open(os.path.join(release_dir, "release.json"), encoding="utf-8") as f:
            mode = json.load(f).get("mode", "good")
        if mode == "nostart":
            # FATAL is the settled state; BACKOFF only means supervisor is still retrying
            wait_until(lambda: self.status() == "FATAL", timeout,
                       "%s: supervisor giving up (FATAL) on nostart release %s" % (self.name, version),
                       describe=lambda: "state %s" % self.status())
        else:
            wait_until(lambda: self.version() == version, timeout,
                       "%s: release %s answering on %s" % (self.name, version, self.url),
                       describe=lambda: "state %s, /version %r" % (self.status(), self.version()))

    def describe(self) -> dict:
        """A JSON-friendly snapshot of this host."""
        return {"name": self.name, "address": self.address, "port": self.port, "root": self.root,
                "supervisorctl": self.supervisorctl, "status": self.status(),
                "current": self.current_target(), "version": self.version()}
