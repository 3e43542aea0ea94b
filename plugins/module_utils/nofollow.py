# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and directories reached through descriptors, never through a link planted in their place.

Shared by the deployment lock, the release history and archive extraction: each opens what it
writes relative to a directory descriptor, with O_NOFOLLOW, and refuses (UnsafePath) a link, fifo
or device where a file or directory must be.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import Dict, List, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# a directory whose path is followed (the administrator's path); its last name is opened with O_NOFOLLOW
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | CLOEXEC
# O_NONBLOCK: a fifo planted in place of a file must not hang the run when it is opened
FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | CLOEXEC
# a directory that must not be a link
DIR_NOFOLLOW_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
# a new file, never one already there and never through a link
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class UnsafePath(LastmileError):
    """A path in ``.lastmile`` is a link, or not the kind of file it must be: nothing goes through it."""


def kind_of_entry(dir_fd: Optional[int], name: str) -> str:
    """What ``name`` in ``dir_fd`` is, for a message: ``a symbolic link to /etc``, ``a fifo``..."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            return "a symbolic link to %s" % os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "not readable"
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"), (stat.S_ISFIFO, "a fifo"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a device"


def open_subdir(parent_fd: int, name: str, path: str, create: bool = False, mode: int = 0o750) -> Optional[int]:
    """``name`` in ``parent_fd`` opened as a directory without following a link; None when missing."""
    if create:
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath("%s is %s, expected a directory" % (path, kind_of_entry(parent_fd, name))) from exc
        raise


def open_dir(directory: str, create: bool = False, mode: int = 0o750) -> Optional[int]:
    """A descriptor of ``directory``: its parents followed (the administrator's path), ``directory``
    itself never through a link (UnsafePath). None when it or a parent does not exist; with
    ``create``, it is made first (its parent must exist)."""
    parent = os.path.dirname(directory) or "."
    try:
        parent_fd = os.open(parent, DIRECTORY_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return open_subdir(parent_fd, os.path.basename(directory), directory, create, mode)
    finally:
        os.close(parent_fd)


def open_file(dir_fd: int, name: str, path: str, flags: int, mode: int = 0o600) -> int:
    """``name`` in ``dir_fd`` opened with ``flags``, never through a link and only as a regular
    file (UnsafePath); FileNotFoundError when missing and not created."""
    try:
        fd = os.open(name, flags | FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise UnsafePath("%s is %s, expected a regular file" % (path, kind_of_entry(dir_fd, name))) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath("%s is %s, expected a regular file" % (path, kind_of_entry(dir_fd, name)))
    return fd


def create_temp(dir_fd: int, prefix: str, suffix: str = "") -> Tuple[int, str]:
    """A new file ``<prefix><random><suffix>`` in ``dir_fd``, mode 0600: (descriptor, name)."""
    for _attempt in range(100):
        name = "%s%s%s" % (prefix, secrets.token_hex(6), suffix)
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | CLOEXEC, 0o600,
                           dir_fd=dir_fd), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", prefix)


def apply_dir_modes(top_fd: int, prefix: str, modes: Dict[str, int]) -> None:
    """fchmod every directory under ``top_fd`` whose path (after ``prefix``) has a mode in ``modes``,
    deepest first, through descriptors opened without following links; no recursion."""
    def subdirs(fd: int) -> List[str]:
        with os.scandir(fd) as entries:
            return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]

    stack: List[Tuple[int, str, List[str]]] = [(top_fd, prefix, subdirs(top_fd))]
    try:
        while stack:
            fd, rel, pending = stack[-1]
            if pending:
                name = pending.pop()
                child_fd = os.open(name, DIR_NOFOLLOW_FLAGS, dir_fd=fd)
                child_rel = rel + "/" + name if rel else name
                try:
                    stack.append((child_fd, child_rel, subdirs(child_fd)))
                except BaseException:
                    os.close(child_fd)
                    raise
                continue
            stack.pop()
            try:
                if rel in modes:
                    os.fchmod(fd, modes[rel])
            finally:
                if fd != top_fd:
                    os.close(fd)
    finally:
        for fd, _rel, _pending in stack:
            if fd != top_fd:
                os.close(fd)
