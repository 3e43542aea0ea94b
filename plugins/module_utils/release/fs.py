# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filesystem steps of a release: markers, tracked directory creation, tree removal, shared links."""

from __future__ import annotations

import binascii
import errno
import json
import os
import shutil
import stat
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.nofollow import DIR_NOFOLLOW_FLAGS
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import timestamp

MARKER_NAME = ".lastmile-release.json"


class FsError(LastmileError):
    """A shared path or release path cannot be laid out as asked."""


def temp_name(directory: str, prefix: str) -> str:
    """A path ``<directory>/<prefix><random>`` that does not exist yet."""
    while True:
        path = os.path.join(directory, prefix + binascii.hexlify(os.urandom(4)).decode())
        if not os.path.lexists(path):
            return path


def make_dirs(path: str, created: Optional[List[str]] = None) -> None:
    """``mkdir -p`` that appends every directory it creates to ``created`` (parents first)."""
    missing = []
    head = os.path.abspath(path)
    while not os.path.lexists(head):
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        os.mkdir(directory)
        if created is not None:
            created.append(directory)


def _identity(fd: int) -> Tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _enter(parent_fd: int, name: str) -> int:
    """The directory ``name`` of ``parent_fd`` opened without following links, its owner given rwx."""
    try:
        fd = os.open(name, DIR_NOFOLLOW_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        # not readable: made so by name (an entry read as a directory, so no link to follow)
        os.chmod(name, stat.S_IRWXU, dir_fd=parent_fd)
        fd = os.open(name, DIR_NOFOLLOW_FLAGS, dir_fd=parent_fd)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, mode | stat.S_IRWXU)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_files(fd: int) -> List[str]:
    """Unlink everything in the directory ``fd`` but its subdirectories; return their names."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdirs


def remove_tree(path: str) -> None:
    """Remove a file, link or directory tree, including read-only directories in it.

    The tree is walked through descriptors, one level at a time and without recursion, so no
    depth is too deep (for path names or for Python) and no link in it is ever followed.
    """
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        os.unlink(path)
        return
    path = os.path.abspath(path)
    top_parent = os.open(os.path.dirname(path), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    fd = -1
    try:
        fd = _enter(top_parent, os.path.basename(path))
        # (name, identity, subdirectories still to remove) of each directory from the top down to fd's
        stack = [(os.path.basename(path), _identity(fd), _remove_files(fd))]
        while stack:
            name, _identity_seen, subdirs = stack[-1]
            if subdirs:
                sub = subdirs.pop()
                child = _enter(fd, sub)
                os.close(fd)
                fd = child
                stack.append((sub, _identity(fd), _remove_files(fd)))
                continue
            stack.pop()
            if stack:
                parent = os.open("..", DIR_NOFOLLOW_FLAGS, dir_fd=fd)
                if _identity(parent) != stack[-1][1]:
                    os.close(parent)
                    raise OSError(errno.ESTALE, "a directory moved while it was being removed", path)
            else:
                parent = top_parent
            os.close(fd)
            fd = parent if parent != top_parent else -1
            os.rmdir(name, dir_fd=parent)
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(top_parent)


def undo_created(created: List[str]) -> None:
    """Best-effort removal of what ``make_dirs``/``link_shared`` created, newest first."""
    for path in reversed(created):
        try:
            if os.path.lexists(path):
                remove_tree(path)
        except OSError:
            pass


def read_marker(release_dir: str) -> Optional[Dict[str, Any]]:
    """The release's marker {version, checksum, unpacked_at}, None if missing or unreadable."""
    try:
        with open(os.path.join(release_dir, MARKER_NAME), encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(release_dir: str, version: str, checksum: str) -> None:
    """Write the marker, replacing any file of that name the archive shipped."""
    path = os.path.join(release_dir, MARKER_NAME)
    if os.path.lexists(path):
        os.unlink(path)
    marker = {"version": version, "checksum": checksum, "unpacked_at": timestamp()}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(path, 0o644)


def normalise_shared_path(path: str) -> str:
    """``logs/`` -> ``logs``; refuses absolute paths, ``..`` and empty paths."""
    if not isinstance(path, str) or path.startswith("/"):
        raise FsError("shared path %r is not relative: expected e.g. 'logs' or 'var/uploads'" % (path,))
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise FsError(
            "shared path %r is invalid: expected a relative path inside the release, without '..'"
            % path
        )
    return "/".join(parts)


def _check_parents(release_dir: str, rel: str) -> None:
    """The parents of a shared path inside the release must be real directories."""
    current = release_dir
    for part in rel.split("/")[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current) or (os.path.lexists(current) and not os.path.isdir(current)):
            raise FsError(
                "shared path %r passes through %r, which in the release is not a directory"
                % (rel, os.path.relpath(current, release_dir))
            )


def link_shared(
    shared_dir: str, release_dir: str, final_dir: str, paths: Iterable[str], created: List[str]
) -> Dict[str, Tuple[str, bool]]:
    """Replace each ``<release_dir>/<path>`` by a relative link to ``<shared_dir>/<path>``.

    ``release_dir`` is where the release is being built, ``final_dir`` where it will live
    (links are relative to it). A file or directory the release ships at a shared path
    seeds the shared copy when there is none yet, and is dropped otherwise. Shared paths
    created here are appended to ``created`` so a failed unpack can undo them.
    Returns {path: (``<shared_dir>/<path>``, whether the release seeded it)}.
    """
    linked = {}
    for rel in paths:
        _check_parents(release_dir, rel)
        inside = os.path.join(release_dir, rel)
        shared = os.path.join(shared_dir, rel)
        make_dirs(os.path.dirname(inside))
        shipped = os.path.lexists(inside)
        seeded = False
        if shipped and (os.path.islink(inside) or os.path.lexists(shared)):
            remove_tree(inside)
        elif shipped:
            make_dirs(os.path.dirname(shared), created)
            shutil.move(inside, shared)
            created.append(shared)
            seeded = True
        if not os.path.lexists(shared):
            make_dirs(shared, created)
        link_target = os.path.relpath(shared, os.path.dirname(os.path.join(final_dir, rel)))
        os.symlink(link_target, inside)
        linked[rel] = (shared, seeded)
    return linked
