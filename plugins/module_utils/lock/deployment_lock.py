# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock of a host (``<root>/.lastmile/lock.json``): one run of an application at a time.

The lock names its holder: the user, the controller (its host name and identity) and the process
of the ``ansible-playbook`` run, when it was taken and for what. It is taken by writing a complete
file beside it and hard-linking that to the lock path, which fails if the lock exists, so two runs
can never both believe they hold it and a reader never sees half a file.

Every change of the lock (take, break, remember, give back) is made holding an exclusive
``flock`` on ``.lastmile/lock.guard``, so that reading the holder, comparing it and replacing
it is one step for every run on the host; the kernel lets go of it when a process dies.

The deploy root may belong to the application's own, less privileged user while runs are root.
So ``.lastmile`` is opened without following a link in its place, and every file in it (the lock,
the guard, temporary files) is opened relative to that directory without following links. What a
lock remembered, and the directories it says it created, are used only when this user wrote it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import pwd
import stat
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import HAProxyError
from ansible_collections.lastmile.deploy.plugins.module_utils.nofollow import (
    DIRECTORY_FLAGS,
    UnsafePath,
    create_temp,
    kind_of_entry,
    open_dir,
    open_file,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    ADMIN_STATES,
    MAX_WEIGHT,
    MIN_WEIGHT,
    validate_name,
)

LOCK_DIR = ".lastmile"
LOCK_FILE = "lock.json"
GUARD_FILE = "lock.guard"
TEMP_PREFIX = ".lock-"
MAX_LOCK_BYTES = 1 << 20
IDENTITY_KEYS = ("machine_id", "boot_id", "pid_namespace")
BREAK_ADVICE = "wait for that run to finish or, if it died, break the lock with force=true"


Holder = Dict[str, Any]


class LockError(LastmileError):
    """The lock cannot be taken as asked, or its file cannot be read or written."""


class LockHeld(LastmileError):
    """Another run holds the lock."""

    def __init__(self, path: str, holder: Holder):
        self.path = path
        self.holder = holder
        super().__init__("deployment lock %s is held by %s: %s" % (path, describe(holder), BREAK_ADVICE),
                         result=dict(path=path, holder=holder, holder_id=holder_id(holder)))


class Broken(NamedTuple):
    """A lock a run broke: its holder, what it remembered that the run takes over, and why anything was not."""

    holder: Holder
    inherited: Dict[str, Any]
    warnings: List[str]


class _Lock(NamedTuple):
    """A lock as read: its content, whether this user owns the file, and why what it holds may come
    from another user (None when nobody else can have written it)."""

    data: Dict[str, Any]
    owned: bool
    distrust: Optional[str]

    @property
    def holder(self) -> Holder:
        return self.data["holder"]


def lock_path(root: str) -> str:
    return os.path.join(root, LOCK_DIR, LOCK_FILE)


def timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def holder_id(holder: Holder) -> str:
    """What makes two holders the same run: the controller, its identity and its ansible-playbook process."""
    identity = holder.get("controller_identity")
    identity = identity if isinstance(identity, dict) else {}
    return ":".join(str(part) for part in (
        holder.get("controller"), holder.get("pid"), holder.get("pid_start"),
        *(identity.get(key) for key in IDENTITY_KEYS)))


def describe(holder: Holder) -> str:
    """``alice@ctl1 (pid 4242) since 2026-11-26T14:02:11Z for deployment of shop 1.4.2``."""
    text = "%s@%s (pid %s) since %s" % (
        holder.get("user", "?"), holder.get("controller", "?"), holder.get("pid", "?"), holder.get("started", "?"))
    if holder.get("purpose"):
        text += " for %s" % holder["purpose"]
    return text


# What a run may keep in its lock (remember) and what a run breaking it takes over: each key
# with the check of its value, which returns what is wrong with it or None.

def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _lb_before_problem(servers: Any) -> Optional[str]:
    """What is wrong with a load balancer state ``{server: {admin, weight, ...}}``, or None."""
    if not isinstance(servers, dict):
        return "is %s, expected a mapping of HAProxy server name to its admin state and weight" % _short(servers)
    for name, server in servers.items():
        try:
            validate_name(name, "server")
        except HAProxyError as exc:
            return str(exc)
        if not isinstance(server, dict):
            return "%s is %s, expected a mapping with admin and weight" % (name, _short(server))
        if not isinstance(server.get("admin"), str) or server["admin"] not in ADMIN_STATES:
            return "%s.admin is %s, expected one of %s" % (name, _short(server.get("admin")), ", ".join(ADMIN_STATES))
        weight = server.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            return "%s.weight is %s, expected an integer from %d to %d" % (name, _short(weight), MIN_WEIGHT, MAX_WEIGHT)
        for key, value in server.items():
            if not isinstance(key, str) or not (value is None or isinstance(value, (str, int, float, bool))):
                return "%s.%s is %s, expected a plain value" % (name, key, _short(value))
    return None


MEMORY_KEYS: Dict[str, Callable[[Any], Optional[str]]] = {"lb_before": _lb_before_problem}


def _memory_problem(key: Any, value: Any) -> Optional[str]:
    check = MEMORY_KEYS.get(key) if isinstance(key, str) else None
    if check is None:
        return "memory has %s, expected only the keys %s" % (_short(key), ", ".join(MEMORY_KEYS))
    problem = check(value)
    return "memory.%s: %s" % (key, problem) if problem else None


def split_memory(memory: Any) -> Tuple[Dict[str, Any], List[str]]:
    """The keys of ``memory`` that are well formed, and what is wrong with each of the others."""
    if not isinstance(memory, dict):
        return {}, ["memory is %s, expected a mapping" % _short(memory)]
    kept, problems = {}, []
    for key, value in memory.items():
        problem = _memory_problem(key, value)
        if problem:
            problems.append(problem)
        else:
            kept[key] = value
    return kept, problems


def check_memory(memory: Any) -> None:
    """Raise LockError naming what is wrong when ``memory`` is not what a lock keeps."""
    problems = split_memory(memory)[1]
    if problems:
        raise LockError("%s; nothing was changed" % "; ".join(problems))


def _broken(path: str, lock: _Lock) -> Broken:
    """What a run that broke ``lock`` takes over: only from a lock this user wrote, only keys well formed."""
    if lock.distrust:
        return Broken(lock.holder, {}, ["the broken deployment lock %s is not trusted, so nothing it remembered is "
                                        "taken over: %s" % (path, lock.distrust)])
    if lock.data.get("memory") is None:
        return Broken(lock.holder, {}, [])
    inherited, problems = split_memory(lock.data["memory"])
    return Broken(lock.holder, inherited, ["ignored what the broken deployment lock %s remembered: %s" % (path, problem)
                                           for problem in problems])


# The directory and its files, never through a link.

def _user(uid: int) -> str:
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def _distrust(lock_status: os.stat_result, dir_status: os.stat_result, directory: str) -> Optional[str]:
    """Why the lock may hold what another user wrote, or None when only this user can have written it."""
    uid = os.geteuid()
    for what, status in (("the file", lock_status), ("its directory %s" % directory, dir_status)):
        if status.st_uid != uid:
            return "%s is owned by %s and this task runs as %s" % (what, _user(status.st_uid), _user(uid))
        if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return "%s is writable by users other than its owner (mode %04o)" % (what, stat.S_IMODE(status.st_mode))
    return None


@contextlib.contextmanager
def _lock_dir(directory: str) -> Iterator[Optional[int]]:
    """The lock directory, opened without following a link, for one change or reading; None when missing."""
    try:
        dir_fd = open_dir(directory)
    except UnsafePath as exc:
        raise LockError("cannot keep the deployment lock in %s: %s" % (directory, exc)) from exc
    except OSError as exc:
        raise LockError("cannot open %s for the deployment lock: %s" % (directory, exc.strerror)) from exc
    try:
        yield dir_fd
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _read(dir_fd: int, path: str) -> Optional[_Lock]:
    """The lock ``path`` (a name in ``dir_fd``), None when there is none."""
    advice = "remove it by hand if no run holds it"
    try:
        fd = open_file(dir_fd, os.path.basename(path), path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except UnsafePath as exc:
        raise LockError("cannot read deployment lock: %s; %s" % (exc, advice)) from exc
    except OSError as exc:
        raise LockError("cannot read deployment lock %s: %s; %s" % (path, exc.strerror, advice)) from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            status = os.fstat(handle.fileno())
            raw = handle.read(MAX_LOCK_BYTES + 1)
        if len(raw) > MAX_LOCK_BYTES:
            raise LockError("deployment lock %s is larger than %d bytes; %s" % (path, MAX_LOCK_BYTES, advice))
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise LockError("cannot read deployment lock %s: %s; %s" % (path, exc, advice)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("holder"), dict):
        raise LockError('deployment lock %s is malformed: expected {"holder": {...}}; %s' % (path, advice))
    return _Lock(data, status.st_uid == os.geteuid(), _distrust(status, os.fstat(dir_fd), os.path.dirname(path)))


def read_record(path: str) -> Optional[Dict[str, Any]]:
    """The whole lock: holder, the directories it created, and what its run remembered in it."""
    with _lock_dir(os.path.dirname(path)) as dir_fd:
        lock = None if dir_fd is None else _read(dir_fd, path)
    return None if lock is None else lock.data


def read_holder(path: str) -> Optional[Holder]:
    """The holder recorded in the lock, None when there is no lock."""
    record = read_record(path)
    return None if record is None else record["holder"]


def _missing_dirs(directory: str) -> List[str]:
    """The directories, outermost first, that creating ``directory`` would create.

    Raises LockError naming the path on the way that exists but is not a directory (a deploy
    root that is a file), or ``directory`` itself when it is a link, before anything is created.
    """
    wanted, missing = directory, []
    while directory and not _is_dir(directory, wanted):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return list(reversed(missing))


def _is_dir(path: str, wanted: str) -> bool:
    """True for a directory, False where nothing is; LockError for anything else on the way to ``wanted``."""
    try:
        mode = (os.lstat if path == wanted else os.stat)(path).st_mode
    except NotADirectoryError:  # a parent is not a directory: the walk up names it
        return False
    except FileNotFoundError:
        if not os.path.islink(path):
            return False
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        return True
    if mode is not None and stat.S_ISLNK(mode):
        raise LockError("cannot keep the deployment lock in %s: %s is %s, expected a directory"
                        % (wanted, path, kind_of_entry(None, path)))
    raise LockError("cannot keep the deployment lock in %s: %s exists and is not a directory" % (wanted, path))


def _make_dirs(directory: str) -> Optional[List[str]]:
    """Create ``directory`` and its missing parents; returns those this call created, or None
    when a parent went away meanwhile (a run giving its lock back removed it): try again."""
    created = []
    for missing in _missing_dirs(directory):
        try:
            os.mkdir(missing, 0o750)
        except FileExistsError:  # another run got there first
            continue
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LockError("cannot create %s for the deployment lock: %s" % (missing, exc.strerror)) from exc
        created.append(missing)
    return created


def _outermost_first(*lists: Any) -> List[str]:
    """The directories of ``lists`` (the ``created_dirs`` of locks), each once, parents first."""
    dirs = {d for listed in lists if isinstance(listed, list) for d in listed if isinstance(d, str)}
    return sorted(dirs, key=lambda d: (len(d), d))


def _created_chain(directory: str, listed: Any) -> List[str]:
    """The directories a give-back may remove: ``directory`` (the lock directory), then its parents,
    innermost first, for as long as each is in ``listed`` - never anything beside that line."""
    listed = set(_outermost_first(listed))
    chain = []
    while directory in listed:
        chain.append(directory)
        parent = os.path.dirname(directory)
        if not parent or parent == directory:
            break
        directory = parent
    return chain


def _remove_created(chain: List[str], lock_dir_fd: int) -> None:
    """Remove the empty directories of ``chain`` (from _created_chain), innermost first.

    Each is removed through a descriptor of its parent, reached from above the outermost one
    without following a link, and only when that walk ends at the lock directory this run holds;
    the first that cannot be removed (it is not empty) stops it.
    """
    outer_to_inner = list(reversed(chain))
    fds: List[int] = []
    try:
        try:
            fds.append(os.open(os.path.dirname(outer_to_inner[0]) or ".", DIRECTORY_FLAGS))
            for path in outer_to_inner:
                fds.append(os.open(os.path.basename(path), DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=fds[-1]))
        except OSError:
            return
        if not os.path.samestat(os.fstat(fds[-1]), os.fstat(lock_dir_fd)):
            return
        for index in reversed(range(len(outer_to_inner))):
            try:
                os.rmdir(os.path.basename(outer_to_inner[index]), dir_fd=fds[index])
            except OSError:
                break
    finally:
        for fd in fds:
            os.close(fd)


@contextlib.contextmanager
def _guard(dir_fd: int, directory: str) -> Iterator[bool]:
    """Hold the exclusive flock of the lock directory for one change of the lock.

    Yields False when the directory was removed or replaced while waiting (a run gave back a
    lock that had created it): the caller starts over.
    """
    path = os.path.join(directory, GUARD_FILE)
    try:
        # read-write: an exclusive flock on NFS needs a file open for writing
        fd = open_file(dir_fd, GUARD_FILE, path, os.O_RDWR | os.O_CREAT)
    except FileNotFoundError:
        yield False
        return
    except UnsafePath as exc:
        raise LockError("cannot change the deployment lock: %s; remove it by hand" % exc) from exc
    except OSError as exc:
        raise LockError("cannot open %s to change the deployment lock: %s" % (path, exc.strerror)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            guard_here = os.path.samestat(os.fstat(fd), os.stat(GUARD_FILE, dir_fd=dir_fd, follow_symlinks=False))
            current = guard_here and os.path.samestat(os.fstat(dir_fd), os.lstat(directory))
        except FileNotFoundError:
            current = False
        yield current
    finally:
        os.close(fd)  # lets go of the flock


def _write_new(dir_fd: int, content: Dict[str, Any]) -> str:
    """Write ``content`` as JSON to a new file in ``dir_fd``, flushed to disk; returns its name."""
    fd, name = create_temp(dir_fd, TEMP_PREFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _remove(dir_fd, name, name)
        raise
    return name


def _link_new(dir_fd: int, content: Dict[str, Any]) -> bool:
    """Write ``content`` as the lock only if there is none; False when there is."""
    tmp = _write_new(dir_fd, content)
    try:
        os.link(tmp, LOCK_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp, dir_fd=dir_fd)
    return True


def _rewrite(dir_fd: int, path: str, record: Dict[str, Any]) -> None:
    """Replace the lock with ``record`` in one step; only under the guard."""
    tmp = None
    try:
        tmp = _write_new(dir_fd, record)
        os.replace(tmp, LOCK_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        if tmp is not None:
            _remove(dir_fd, tmp, tmp)
        raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc


def _remove(dir_fd: int, name: str, path: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LockError("cannot remove deployment lock %s: %s" % (path, exc.strerror)) from exc


def _ours(lock: Optional[_Lock], holder: Holder) -> bool:
    """Whether ``lock`` is the one ``holder`` took: naming it, in a file of this user."""
    return lock is not None and lock.owned and holder_id(lock.holder) == holder_id(holder)


def _may_take(path: str, lock: Optional[_Lock], holder: Holder, force: bool, break_holder: Optional[str]) -> bool:
    """Whether ``holder`` may write its lock over ``lock``; False when it already holds it.

    Raises LockHeld when another run holds it and neither ``force`` nor ``break_holder`` (the
    id of exactly that run) allows breaking it. A lock naming ``holder`` in a file this user did
    not write is not its own: it is replaced.
    """
    if lock is None:
        return True
    if holder_id(lock.holder) == holder_id(holder):
        return not lock.owned
    if force or (break_holder is not None and holder_id(lock.holder) == break_holder):
        return True
    raise LockHeld(path, lock.holder)


def acquire(root: str, holder: Holder, force: bool = False, check_mode: bool = False,
            break_holder: Optional[str] = None) -> Tuple[bool, Optional[Broken]]:
    """Take the lock for ``holder``. Returns (changed, the lock that was broken, if any).

    Taking a lock this run already holds changes nothing. A lock held by another run raises
    LockHeld, unless ``force`` breaks it, or ``break_holder`` is that run's holder id: then it is
    broken only if that run still holds it when the lock is read under the guard, so two runs
    breaking the same dead run's lock cannot both take it. The new lock records only the
    directories this acquire created, never those a broken lock names.
    """
    directory = os.path.join(root, LOCK_DIR)
    path = os.path.join(directory, LOCK_FILE)
    _missing_dirs(directory)
    # judged once without the guard, so that a run refused (or holding the lock already) writes
    # nothing at all; judged again under the guard before anything is written
    with _lock_dir(directory) as dir_fd:
        lock = None if dir_fd is None else _read(dir_fd, path)
    taking = _may_take(path, lock, holder, force, break_holder)
    if check_mode or not taking:
        return taking, _broken(path, lock) if taking and lock is not None else None
    for _attempt in range(5):
        created = _make_dirs(directory)
        if created is None:
            continue
        with _lock_dir(directory) as dir_fd:
            if dir_fd is None:
                continue
            with _guard(dir_fd, directory) as guarded:
                if not guarded:
                    continue
                lock = _read(dir_fd, path)
                try:
                    if not _may_take(path, lock, holder, force, break_holder):
                        return False, None
                except LockHeld:
                    if created and lock.distrust is None:
                        # the run of this user that took the lock first gives back what this one created for it
                        _rewrite(dir_fd, path, dict(lock.data, created_dirs=_outermost_first(
                            lock.data.get("created_dirs"), created)))
                    raise
                if lock is not None:
                    _remove(dir_fd, LOCK_FILE, path)
                try:
                    if _link_new(dir_fd, {"holder": holder, "created_dirs": created}):
                        return True, None if lock is None else _broken(path, lock)
                except OSError as exc:
                    raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc
    raise LockError("deployment lock %s keeps changing hands; try again" % path)


def remember(root: str, holder: Holder, key: str, value: Any, check_mode: bool = False) -> bool:
    """Keep ``value`` under ``key`` in the lock ``holder`` holds, for a run that has to take over
    after this one died. False, and nothing written, when ``holder`` does not hold the lock."""
    directory = os.path.join(root, LOCK_DIR)
    path = os.path.join(directory, LOCK_FILE)
    with _lock_dir(directory) as dir_fd:
        if dir_fd is None:
            return False
        ours = _ours(_read(dir_fd, path), holder)
        if not ours or check_mode:
            return ours
        with _guard(dir_fd, directory) as guarded:
            if not guarded:
                return False
            lock = _read(dir_fd, path)
            if not _ours(lock, holder):
                return False
            if lock.data.get(key) != value:
                _rewrite(dir_fd, path, dict(lock.data, **{key: value}))
    return True


def release(root: str, holder: Holder, check_mode: bool = False) -> bool:
    """Give the lock back if ``holder`` holds it; a lock of another run (or one that cannot be
    read) is left alone.

    Directories the lock itself created (a host never deployed to) go again, if still empty:
    only those its record lists on the line from ``.lastmile`` up, and only from a lock nobody
    but this user can have written.
    """
    directory = os.path.join(root, LOCK_DIR)
    path = os.path.join(directory, LOCK_FILE)
    with contextlib.ExitStack() as opened:
        try:
            dir_fd = opened.enter_context(_lock_dir(directory))
            lock = None if dir_fd is None else _read(dir_fd, path)
        except LockError:
            return False
        # a lock of another run, or none, is left without a write; ours is judged again under the guard
        if not _ours(lock, holder) or check_mode:
            return _ours(lock, holder)
        with _guard(dir_fd, directory) as guarded:
            if not guarded:
                return False
            try:
                lock = _read(dir_fd, path)
            except LockError:
                return False
            if not _ours(lock, holder):
                return False
            created = [] if lock.distrust else _created_chain(directory, lock.data.get("created_dirs"))
            _remove(dir_fd, LOCK_FILE, path)
            # a run waiting for the guard sees it removed and starts over
            if created and os.listdir(dir_fd) == [GUARD_FILE]:
                _remove(dir_fd, GUARD_FILE, os.path.join(directory, GUARD_FILE))
                _remove_created(created, dir_fd)
    return True
