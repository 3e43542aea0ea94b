# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock of a host (``<root>/.lastmile/lock.json``): one run of an application at a time.

The lock names its holder: the user, the controller and the process of the ``ansible-playbook``
run, when it was taken and for what. It is taken by writing a complete file beside it and
hard-linking that to the lock path, which fails if the lock exists, so two runs can never both
believe they hold it and a reader never sees half a file.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

LOCK_DIR = ".lastmile"
LOCK_FILE = "lock.json"
HOLDER_KEYS = ("user", "controller", "pid", "pid_start", "started", "purpose")

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
    """What makes two holders the same run: the controller and its ansible-playbook process."""
    return "%s:%s:%s" % (holder.get("controller"), holder.get("pid"), holder.get("pid_start"))


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
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LockError("cannot read deployment lock %s: %s; remove it by hand if no run holds it" % (path, exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("holder"), dict):
        raise LockError('deployment lock %s is malformed: expected {"holder": {...}}; remove it by hand if no run holds it' % path)
    return data


def _missing_dirs(directory: str) -> List[str]:
    """The directories, outermost first, that creating ``directory`` would create."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return list(reversed(missing))


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


def acquire(root: str, holder: Holder, force: bool = False, check_mode: bool = False) -> Tuple[bool, Optional[Dict[str, Any]]]:
    """Take the lock for ``holder``. Returns (changed, the lock that was broken, if any).

    Taking a lock this run already holds changes nothing. A lock held by another run raises
    LockHeld, unless ``force`` breaks it.
    """
    path = lock_path(root)
    broken = None
    for _attempt in range(3):
        record = read_record(path)
        if record is not None:
            if holder_id(record["holder"]) == holder_id(holder):
                return False, broken
            if not force:
                raise LockHeld(path, record["holder"])
            broken = record
            if not check_mode:
                _remove(path)
        if check_mode:
            return True, broken
        created = []
        try:
            for directory in _missing_dirs(os.path.dirname(path)):
                try:
                    os.mkdir(directory, 0o750)
                except FileExistsError:  # another run got there first
                    continue
                created.append(directory)
        except OSError as exc:
            raise LockError("cannot create %s for the deployment lock: %s" % (exc.filename, exc.strerror)) from exc
        try:
            if _link_new(path, {"holder": holder, "created_dirs": created}):
                return True, broken
        except OSError as exc:
            raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc
    raise LockError("deployment lock %s keeps changing hands; try again" % path)


def remember(root: str, holder: Holder, key: str, value: Any, check_mode: bool = False) -> bool:
    """Keep ``value`` under ``key`` in the lock ``holder`` holds, for a run that has to take over
    after this one died. False, and nothing written, when ``holder`` does not hold the lock."""
    path = lock_path(root)
    record = read_record(path)
    if record is None or holder_id(record["holder"]) != holder_id(holder):
        return False
    if check_mode or record.get(key) == value:
        return True
    record[key] = value
    tmp = None
    try:
        tmp = _write_beside(path, record)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            _remove(tmp)
        raise LockError("cannot write deployment lock %s: %s" % (path, exc.strerror or exc)) from exc
    return True


def release(root: str, holder: Holder, check_mode: bool = False) -> bool:
    """Give the lock back if ``holder`` holds it; a lock of another run is left alone."""
    path = lock_path(root)
    try:
        current = read_holder(path)
    except LockError:
        return False
    if current is None or holder_id(current) != holder_id(holder):
        return False
    if check_mode:
        return True
    with open(path, encoding="utf-8") as handle:
        created = json.load(handle).get("created_dirs") or []
    _remove(path)
    # Directories the lock itself created (a host never deployed to) go again, if still empty.
    for directory in reversed(created):
        try:
            os.rmdir(directory)
        except OSError:
            break
    return True


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LockError("cannot remove deployment lock %s: %s" % (path, exc.strerror)) from exc
