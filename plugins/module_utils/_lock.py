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
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import stat
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

LOCK_DIR = ".lastmile"
LOCK_FILE = "lock.json"
GUARD_FILE = "lock.guard"
IDENTITY_KEYS = ("machine_id", "boot_id", "pid_namespace")
BREAK_ADVICE = "wait for that run to finish or, if it died, break the lock with force=true"

Holder = Dict[str, Any]


class LockError(Exception):
    """The lock file cannot be read or written."""


class LockHeld(Exception):
    """Another run holds the lock."""

    def __init__(self, path: str, holder: Holder):
        self.path = path
        self.holder = holder
        super().__init__("deployment lock %s is held by %s" % (path, describe(holder)))


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


def read_holder(path: str) -> Optional[Holder]:
    """The holder recorded in the lock, None when there is no lock."""
    record = read_record(path)
    return None if record is None else record["holder"]


def read_record(path: str) -> Optional[Dict[str, Any]]:
    """The whole lock: holder, the directories it created, and what its run remembered in it."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):  # no lock can be where no directory is
        return None
    except (OSError, ValueError) as exc:
        raise LockError("cannot read deployment lock %s: %s; remove it by hand if no run holds it" % (path, exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("holder"), dict):
        raise LockError('deployment lock %s is malformed: expected {"holder": {...}}; remove it by hand if no run holds it' % path)
    return data


def _missing_dirs(directory: str) -> List[str]:
    """The directories, outermost first, that creating ``directory`` would create.

    Raises LockError naming the path on the way that exists but is not a directory (a deploy
    root that is a file), before anything is created.
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
        mode = os.stat(path).st_mode
    except NotADirectoryError:  # a parent is not a directory: the walk up names it
        return False
    except FileNotFoundError:
        if not os.path.islink(path):
            return False
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        return True
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


@contextlib.contextmanager
def _guard(directory: str) -> Iterator[bool]:
    """Hold the exclusive flock of the lock directory for one change of the lock.

    Yields False when the directory was removed while waiting (a run gave back a lock that had
    created it): the caller starts over.
    """
    path = os.path.join(directory, GUARD_FILE)
    try:
        # read-write: an exclusive flock on NFS needs a file open for writing
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except (FileNotFoundError, NotADirectoryError):
        yield False
        return
    except OSError as exc:
        raise LockError("cannot open %s to change the deployment lock: %s" % (path, exc.strerror)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        yield current
    finally:
        os.close(fd)  # lets go of the flock


def _write_beside(path: str, content: Dict[str, Any]) -> str:
    """Write ``content`` as JSON to a new file beside ``path``, flushed to disk; returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def _link_new(path: str, content: Dict[str, Any]) -> bool:
    """Write ``content`` to ``path`` only if it does not exist; False when it does."""
    tmp = _write_beside(path, content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def _may_take(path: str, record: Optional[Dict[str, Any]], holder: Holder, force: bool,
              break_holder: Optional[str]) -> bool:
    """Whether ``holder`` may write its lock over ``record``; False when it already holds it.

    Raises LockHeld when another run holds it and neither ``force`` nor ``break_holder`` (the
    id of exactly that run) allows breaking it.
    """
    if record is None:
        return True
    if holder_id(record["holder"]) == holder_id(holder):
        return False
    if force or (break_holder is not None and holder_id(record["holder"]) == break_holder):
        return True
    raise LockHeld(path, record["holder"])


def acquire(root: str, holder: Holder, force: bool = False, check_mode: bool = False,
            break_holder: Optional[str] = None) -> Tuple[bool, Optional[Dict[str, Any]]]:
    """Take the lock for ``holder``. Returns (changed, the lock that was broken, if any).

    Taking a lock this run already holds changes nothing. A lock held by another run raises
    LockHeld, unless ``force`` breaks it, or ``break_holder`` is that run's holder id: then it is
    broken only if that run still holds it when the lock is read under the guard, so two runs
    breaking the same dead run's lock cannot both take it.
    """
    path = lock_path(root)
    directory = os.path.dirname(path)
    _missing_dirs(directory)
    # judged once without the guard, so that a run refused (or holding the lock already) writes
    # nothing at all; judged again under the guard before anything is written
    record = read_record(path)
    taking = _may_take(path, record, holder, force, break_holder)
    if check_mode or not taking:
        return taking, record if taking else None
    for _attempt in range(5):
        created = _make_dirs(directory)
        if created is None:
            continue
        with _guard(directory) as guarded:
            if not guarded:
                continue
            record = read_record(path)
            try:
                if not _may_take(path, record, holder, force, break_holder):
                    return False, None
            except LockHeld:
                if created:  # the run that took the lock first gives back what this one created for it
                    _rewrite(path, dict(record, created_dirs=_outermost_first(record.get("created_dirs"), created)))
                raise
            if record is not None:
                _remove(path)
                # directories only the broken lock needed go when this one is given back
                created = _outermost_first(record.get("created_dirs"), created)
            try:
                if _link_new(path, {"holder": holder, "created_dirs": created}):
                    return True, record
            except OSError as exc:
                raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc
    raise LockError("deployment lock %s keeps changing hands; try again" % path)


def remember(root: str, holder: Holder, key: str, value: Any, check_mode: bool = False) -> bool:
    """Keep ``value`` under ``key`` in the lock ``holder`` holds, for a run that has to take over
    after this one died. False, and nothing written, when ``holder`` does not hold the lock."""
    path = lock_path(root)
    record = read_record(path)
    if record is None or holder_id(record["holder"]) != holder_id(holder) or check_mode:
        return record is not None and holder_id(record["holder"]) == holder_id(holder)
    with _guard(os.path.dirname(path)) as guarded:
        if not guarded:
            return False
        record = read_record(path)
        if record is None or holder_id(record["holder"]) != holder_id(holder):
            return False
        if record.get(key) != value:
            _rewrite(path, dict(record, **{key: value}))
    return True


def _rewrite(path: str, record: Dict[str, Any]) -> None:
    """Replace the lock with ``record`` in one step; only under the guard."""
    tmp = None
    try:
        tmp = _write_beside(path, record)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            _remove(tmp)
        raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc


def release(root: str, holder: Holder, check_mode: bool = False) -> bool:
    """Give the lock back if ``holder`` holds it; a lock of another run is left alone."""
    path = lock_path(root)
    directory = os.path.dirname(path)
    try:
        current = read_holder(path)
    except LockError:
        return False
    # a lock of another run, or none, is left without a write; ours is judged again under the guard
    if current is None or holder_id(current) != holder_id(holder) or check_mode:
        return current is not None and holder_id(current) == holder_id(holder)
    with _guard(directory) as guarded:
        if not guarded:
            return False
        try:
            record = read_record(path)
        except LockError:
            return False
        if record is None or holder_id(record["holder"]) != holder_id(holder):
            return False
        created = _outermost_first(record.get("created_dirs"))
        _remove(path)
        # Directories the lock itself created (a host never deployed to) go again, if still empty;
        # a run waiting for the guard sees it removed and starts over.
        if directory in created and os.listdir(directory) == [GUARD_FILE]:
            _remove(os.path.join(directory, GUARD_FILE))
        for created_dir in reversed(created):
            try:
                os.rmdir(created_dir)
            except OSError:
                break
    return True


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LockError("cannot remove deployment lock %s: %s" % (path, exc.strerror)) from exc
