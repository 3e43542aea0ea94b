# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private OpenSSH server on loopback, so playbooks can reach fleet hosts over a real SSH transport.

One ``sshd -D`` listens on one port on every address it is given (the fleet hosts' 127.0.0.x and
127.0.0.1 for the LB host), with host keys, an authorized_keys file, a known_hosts file and a client
configuration that all live in its own directory: nothing in any user's ~/.ssh is read or written.
Clients log in as a dedicated unprivileged account that may run anything as root through sudo
without a password (the fleet's host directories belong to root, so tasks on hosts need become).

Account and sudo rule (both need root; the tests run as root):

- the account (default ``lastmile-ssh``) is created by useradd if missing, with a home directory
  (Ansible's remote_tmp) and the password field ``*`` (no password works, yet the account is not
  "locked", which sshd refuses without PAM). It is left in place afterwards: creating it is idempotent.
- ``/etc/sudoers.d/<account>-<server>`` gets ``<account> ALL=(root) NOPASSWD: ALL``, checked with
  ``visudo -cf`` before it is installed; stop() removes it again. One file per server: servers of
  parallel test workers start and stop (or are cut off mid-run) at any time, and a rule shared
  between them would be removed under a run that still needs it.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence

from fleet.procs import FleetError, pid_alive, processes_using, stop_process, wait_until

SSHD_BIN = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"
SUDOERS_DIR = "/etc/sudoers.d"
DEFAULT_USER = "lastmile-ssh"
WORKDIR_PREFIX = "lmssh-"
# Where Ansible runs modules on the hosts: a Python any account may execute, standard library only.
REMOTE_PYTHON = "/usr/bin/python3"

SSHD_CONFIG = """\
{listen}HostKey {dir}/ssh_host_ed25519_key
AuthorizedKeysFile {dir}/authorized_keys
PidFile {dir}/sshd.pid
StrictModes no
UsePAM no
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
"""

SSH_CONFIG = """\
Host *
    UserKnownHostsFile {dir}/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    UpdateHostKeys no
    IdentitiesOnly yes
    IdentityAgent none
    BatchMode yes
"""

CONNECTION = re.compile(r"^Connection from (\S+) port (\d+) on (\S+) port (\d+)", re.M)
ACCEPTED = re.compile(r"^Accepted publickey for (\S+) from (\S+) port (\d+) ", re.M)


def _run(argv: List[str], what: str) -> str:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FleetError("%s failed (rc %d): %s" % (what, proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def ensure_account(user: str = DEFAULT_USER) -> pwd.struct_passwd:
    """The unprivileged login account, created if missing; its password field made ``*`` if it is locked."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        _run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*",
              "--comment", "lastmile.deploy SSH tests", user], "useradd %s" % user)
        entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        raise FleetError("account %r has uid 0: expected an unprivileged account for SSH logins" % user)
    with open("/etc/shadow", encoding="utf-8") as f:
        locked = any(line.split(":")[0] == user and line.split(":")[1].startswith("!") for line in f)
    if locked:
        _run(["usermod", "--password", "*", user], "usermod %s" % user)
    if not os.path.isdir(entry.pw_dir):
        raise FleetError("home of %s is %s, which does not exist: expected a directory for Ansible's remote_tmp"
                         % (user, entry.pw_dir))
    return entry


def install_sudoers(user: str, scratch: str, path: str) -> str:
    """Install ``path`` in /etc/sudoers.d (NOPASSWD to root for ``user``), validated with visudo first; return it."""
    fd, tmp = tempfile.mkstemp(prefix="sudoers-", dir=scratch)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# lastmile.deploy SSH tests (tests/fleet/sshd.py); removed when the test server stops\n"
                "%s ALL=(root) NOPASSWD: ALL\n" % user)
    os.chmod(tmp, 0o440)
    _run(["visudo", "-cf", tmp], "visudo -cf %s" % tmp)
    os.makedirs(SUDOERS_DIR, exist_ok=True)
    shutil.move(tmp, path + ".tmp")  # sudo ignores names holding a dot until the rename below
    os.replace(path + ".tmp", path)
    return path


def _children(pid: int) -> List[int]:
    """Every descendant of ``pid`` (sshd's per-connection processes)."""
    by_parent: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        by_parent.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _free_on_all(addresses: Sequence[str], port: int) -> bool:
    for address in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


class SSHServer:
    """``with SSHServer(addresses) as ssh:`` one sshd on every address, one port; ssh.host_vars for inventories."""

    def __init__(self, addresses: Sequence[str], user: str = DEFAULT_USER, workdir: Optional[str] = None,
                 port: Optional[int] = None) -> None:
        if not addresses:
            raise FleetError("SSHServer needs at least one address: expected 127.0.0.x addresses to listen on")
        self.addresses = list(dict.fromkeys(addresses))
        self.user = user
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir) if workdir else tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
        self.port = port
        self.host_key = os.path.join(self.workdir, "ssh_host_ed25519_key")
        self.client_key = os.path.join(self.workdir, "id_ed25519")
        self.authorized_keys = os.path.join(self.workdir, "authorized_keys")
        self.known_hosts = os.path.join(self.workdir, "known_hosts")
        self.ssh_config = os.path.join(self.workdir, "ssh_config")
        self.config = os.path.join(self.workdir, "sshd_config")
        self.pidfile = os.path.join(self.workdir, "sshd.pid")
        self.log_path = os.path.join(self.workdir, "sshd.log")
        self.control_dir = os.path.join(self.workdir, "cp")
        # no dot in the name: sudo skips such files in sudoers.d
        self.sudoers_path = os.path.join(SUDOERS_DIR, "%s-%s" % (user, os.path.basename(self.workdir).replace(".", "")))
        self._popen: Optional[subprocess.Popen] = None

    def __enter__(self) -> "SSHServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return "SSHServer(%s@%s port %s, %s)" % (self.user, ",".join(self.addresses), self.port, self.workdir)

    def start(self, timeout: float = 10.0, attempts: int = 5) -> "SSHServer":
        """Account, sudo rule, keys and configs, then sshd; returns once it listens on every address."""
        try:
            ensure_account(self.user)
            # sshd reads authorized_keys as the login user: the directory must be traversable
            os.chmod(self.workdir, 0o711)
            os.makedirs(self.control_dir, mode=0o700, exist_ok=True)
            os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
            install_sudoers(self.user, self.workdir, self.sudoers_path)
            self._write_keys()
            with open(self.ssh_config, "w", encoding="utf-8") as f:
                f.write(SSH_CONFIG.format(dir=self.workdir))
            for attempt in range(attempts):
                port = self.port or self._pick_port()
                if self._launch(port, timeout):
                    self.port = port
                    break
                if self.port or attempt == attempts - 1:
                    raise FleetError("sshd could not listen on port %d of %s: see %s\n%s"
                                     % (port, ", ".join(self.addresses), self.log_path, self.log_text()[-2000:]))
            self._write_known_hosts()
        except BaseException:
            self.stop(remove_workdir=False)
            raise
        return self

    def _pick_port(self) -> int:
        for _attempt in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((self.addresses[0], 0))
                port = s.getsockname()[1]
            if _free_on_all(self.addresses, port):
                return port
        raise FleetError("no TCP port free on all of %s" % ", ".join(self.addresses))

    def _write_keys(self) -> None:
        for path, comment in ((self.host_key, "lastmile-ssh-host"), (self.client_key, "lastmile-ssh-client")):
            if not os.path.exists(path):
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], "ssh-keygen %s" % path)
        shutil.copyfile(self.client_key + ".pub", self.authorized_keys)
        os.chmod(self.authorized_keys, 0o644)

    def _write_known_hosts(self) -> None:
        with open(self.host_key + ".pub", encoding="utf-8") as f:
            key = " ".join(f.read().split()[:2])
        with open(self.known_hosts, "w", encoding="utf-8") as f:
            f.writelines("[%s]:%d %s\n" % (address, self.port, key) for address in self.addresses)

    def _launch(self, port: int, timeout: float) -> bool:
        """Start sshd on ``port``; True once it listens on every address, False if a bind failed."""
        listen = "".join("ListenAddress %s:%d\n" % (address, port) for address in self.addresses)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(SSHD_CONFIG.format(listen=listen, dir=self.workdir, user=self.user))
        _run([SSHD_BIN, "-t", "-f", self.config], "sshd -t -f %s" % self.config)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write("== sshd on port %d\n" % port)
        start = os.path.getsize(self.log_path)
        self._popen = subprocess.Popen([SSHD_BIN, "-D", "-f", self.config, "-E", self.log_path],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True, cwd=self.workdir)

        def outcome() -> Optional[str]:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(start)
                text = f.read()
            if all("Server listening on %s port %d." % (a, port) in text for a in self.addresses):
                return "listening"
            if re.search(r"Bind to port %d on \S+ failed" % port, text):
                return "bind failed"
            if self._popen is not None and self._popen.poll() is not None:
                return "exited"
            return None

        if wait_until(outcome, timeout, "sshd listening on port %d" % port) == "listening":
            return True
        self._stop_server()
        return False

    def host_vars(self, name: str, address: Optional[str]) -> dict:
        """Connection variables for one inventory host (a fleet.inventory transport): SSH as the test
        account, become root through sudo, pipelining on, this server's own known_hosts and keys.
        ``address`` None (the LB host) connects to the first address this server listens on."""
        hostvars = {} if address is not None else {"ansible_host": self.addresses[0]}
        if (address or self.addresses[0]) not in self.addresses:
            raise FleetError("host %s at %s: expected one of the addresses sshd listens on (%s)"
                             % (name, address, ", ".join(self.addresses)))
        hostvars.update({
            "ansible_connection": "ansible.builtin.ssh",
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": self.client_key,
            "ansible_ssh_common_args": "-F %s" % self.ssh_config,
            "ansible_ssh_host_key_checking": True,
            "ansible_control_path_dir": self.control_dir,
            "ansible_pipelining": True,
            "ansible_become": True,
            "ansible_become_method": "ansible.builtin.sudo",
            "ansible_become_user": "root",
            "ansible_python_interpreter": REMOTE_PYTHON,
        })
        return hostvars

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logins(self) -> Dict[str, int]:
        """Public-key logins as the test account per address that accepted them, from sshd's log."""
        text = self.log_text()
        listening_on = {(m[1], m[2]): m[3] for m in CONNECTION.finditer(text)}
        counts: Dict[str, int] = {}
        for m in ACCEPTED.finditer(text):
            if m[1] == self.user:
                address = listening_on.get((m[2], m[3]), "?")
                counts[address] = counts.get(address, 0) + 1
        return counts

    def processes(self) -> Dict[int, str]:
        """Live processes of this server and its clients: sshd, its sessions, ssh control masters."""
        found = processes_using(self.workdir)
        pid = self._popen.pid if self._popen is not None else None
        if pid is not None and pid_alive(pid):
            for child in _children(pid):
                found.setdefault(child, "sshd session %d" % child)
        return found

    def _stop_server(self) -> None:
        if self._popen is None:
            return
        sessions = _children(self._popen.pid)
        stop_process(self._popen.pid, timeout=5.0, popen=self._popen)
        for pid in sessions:
            if pid_alive(pid):
                stop_process(pid, timeout=3.0)
        self._popen = None

    def stop(self, remove_workdir: Optional[bool] = None) -> None:
        """Close the clients' control masters, stop sshd and its sessions, remove the sudo rule."""
        errors = []
        for pid, cmdline in processes_using(self.control_dir).items():
            if pid_alive(pid) and not cmdline.startswith(SSHD_BIN):
                stop_process(pid, signal.SIGTERM, timeout=3.0)
        try:
            self._stop_server()
        except FleetError as e:
            errors.append(str(e))
        for pid in processes_using(self.workdir):
            if pid_alive(pid):
                stop_process(pid, signal.SIGTERM, timeout=3.0)
        if os.path.exists(self.sudoers_path):
            os.unlink(self.sudoers_path)
        if remove_workdir is None:
            remove_workdir = self._own_workdir and os.environ.get("LMF_KEEP") != "1"
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise FleetError("sshd stop had errors: %s" % "; ".join(errors))

    def wait_gone(self, timeout: float = 5.0) -> None:
        """Wait until nothing of this server is left running."""
        wait_until(lambda: not self.processes(), timeout, "%r stopped" % self, describe=lambda: str(self.processes()))
