# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release history of a host (``<root>/.lastmile/state.json``) and its rollback target."""

from __future__ import annotations

import copy
import datetime
import json
import os
from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.nofollow import UnsafePath, create_temp, open_dir, open_file

STATUSES = ("pending", "succeeded", "failed", "rolled_back")
STATE_DIR = ".lastmile"
STATE_FILE = "state.json"

Entry = Dict[str, Any]


class HistoryError(LastmileError):
    """The state file is unreadable or a history change is not allowed."""


def timestamp() -> str:
    """UTC time as ISO 8601 with microseconds, e.g. ``2026-01-02T03:04:05.000006Z``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_path(root: str) -> str:
    return os.path.join(root, STATE_DIR, STATE_FILE)


def _well_formed(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("version"), str) and entry.get("status") in STATUSES


def load_history(root: str) -> List[Entry]:
    """Entries oldest first; an empty list when the state file does not exist yet.

    Neither ``.lastmile`` nor the state file is read through a link (HistoryError): the deploy
    root may belong to the application's user.
    """
    path = state_path(root)
    try:
        dir_fd = open_dir(os.path.dirname(path))
        if dir_fd is None:
            return []
        try:
            fd = open_file(dir_fd, STATE_FILE, path, os.O_RDONLY)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    except UnsafePath as exc:
        raise HistoryError("cannot read release history: %s" % exc) from exc
    except (OSError, ValueError) as exc:
        raise HistoryError("cannot read release history %s: %s" % (path, exc)) from exc
    history = data.get("history") if isinstance(data, dict) else None
    if not isinstance(history, list) or not all(_well_formed(entry) for entry in history):
        raise HistoryError(
            "release history %s is malformed: expected {\"history\": [{\"version\", \"status\", "
            "\"switched_at\", \"finished_at\"}, ...]} with status one of %s"
            % (path, ", ".join(STATUSES))
        )
    return history


def save_history(root: str, history: List[Entry]) -> None:
    """Write the state file atomically: a temp file in the same directory, then rename.

    Both are made relative to ``.lastmile`` opened without following a link in its place, which
    is refused (HistoryError): nothing is written outside the deploy root.
    """
    os.makedirs(root, exist_ok=True)
    try:
        dir_fd = open_dir(os.path.join(root, STATE_DIR), create=True, mode=0o755)
    except UnsafePath as exc:
        raise HistoryError("cannot write release history: %s" % exc) from exc
    if dir_fd is None:  # the deploy root went away meanwhile
        raise FileNotFoundError(2, "No such file or directory", root)
    try:
        fd, tmp = create_temp(dir_fd, ".state-", ".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"history": history}, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
                os.fchmod(handle.fileno(), 0o644)
            os.replace(tmp, STATE_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(dir_fd)


def latest_index(history: List[Entry], version: str) -> Optional[int]:
    """Index of the newest entry for ``version``, None if it has none."""
    for index in range(len(history) - 1, -1, -1):
        if history[index]["version"] == version:
            return index
    return None


def latest_status(history: List[Entry], version: Optional[str]) -> Optional[str]:
    index = latest_index(history, version) if version is not None else None
    return history[index]["status"] if index is not None else None


def with_switch(history: List[Entry], version: str, run: Optional[str] = None, restore: bool = False) -> List[Entry]:
    """History after ``current`` was switched to ``version``: a new pending entry, naming the ``run``
    that switched when given, and marked ``restore`` when it puts back an earlier release (the restore
    of a failed run, a rollback)."""
    entry: Entry = {"version": version, "status": "pending", "switched_at": timestamp(), "finished_at": None}
    if run:
        entry["run"] = run
    if restore:
        entry["restore"] = True
    return copy.deepcopy(history) + [entry]


def deployment_index(history: List[Entry], version: str) -> Optional[int]:
    """Index of the entry of the run that put ``version`` in place: its newest entry that is not a
    restore (``version`` put back by a failed run or a rollback), else its newest entry; None if it
    has none."""
    newest = None
    for index in range(len(history) - 1, -1, -1):
        if history[index]["version"] != version:
            continue
        if not history[index].get("restore"):
            return index
        newest = index if newest is None else newest
    return newest


def with_status(history: List[Entry], version: str, status: str) -> List[Entry]:
    """History with the newest entry of ``version`` set to ``status``.

    A version without entries (e.g. a release linked by another tool) gets a new entry
    with ``switched_at`` null.
    """
    if status not in STATUSES:
        raise HistoryError("status %r is not valid: expected one of %s" % (status, ", ".join(STATUSES)))
    result = copy.deepcopy(history)
    index = latest_index(result, version)
    if index is None:
        result.append({"version": version, "status": status, "switched_at": None, "finished_at": None})
        index = len(result) - 1
    result[index]["status"] = status
    result[index]["finished_at"] = None if status == "pending" else timestamp()
    return result


def rollback_target(history: List[Entry], current: Optional[str], present: Iterable[str]) -> Optional[str]:
    """The release to go back to from ``current``, or None.

    Only entries older than the one of the run that put ``current`` in place (deployment_index)
    are considered (all entries when ``current`` is None or has none). Among them, the newest one with status
    ``succeeded``, a version other than ``current`` and a release directory still in
    ``present`` wins. Each version is judged by its newest considered entry only, so a
    release that succeeded once and failed or was rolled back later is not a target;
    pending, failed and rolled_back entries never are.
    """
    present = set(present)
    end = deployment_index(history, current) if current is not None else None
    considered = history if end is None else history[:end]
    judged = set()
    for entry in reversed(considered):
        version = entry["version"]
        if version in judged:
            continue
        judged.add(version)
        if entry["status"] == "succeeded" and version != current and version in present:
            return version
    return None


def pending_versions(history: List[Entry]) -> List[str]:
    """Versions that have at least one pending entry."""
    return sorted({entry["version"] for entry in history if entry["status"] == "pending"})


def undone_since(history: List[Entry], current: Optional[str], target: Optional[str]) -> List[Entry]:
    """Failed or rolled-back entries, other than ``current``'s, finished since the release a rollback
    from ``current`` would put back was switched to (the newest entry of ``target`` before
    ``current``'s newest one), or, without a target, since ``current`` was: deployments that were
    already undone. Oldest first.
    """
    end = latest_index(history, current) if current is not None else None
    anchor = end
    if target is not None:
        anchor = latest_index(history if end is None else history[:end], target)
    if anchor is None:
        newer = list(history)
    elif history[anchor].get("switched_at"):
        since = history[anchor]["switched_at"]
        newer = [entry for entry in history if (entry.get("finished_at") or "") >= since]
    else:
        newer = history[anchor + 1:]
    return [dict(entry) for entry in newer if entry["status"] in ("failed", "rolled_back") and entry["version"] != current]


def newest_entry(history: List[Entry], version: Optional[str]) -> Optional[Entry]:
    """The newest entry of ``version``, None if it has none."""
    index = latest_index(history, version) if version is not None else None
    return dict(history[index]) if index is not None else None
