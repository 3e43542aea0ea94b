# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile archives built in tests, and an lstat record of what must not change around them."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import warnings
import zipfile


def alias_escape_members(ups, victim, through_alias=True, with_victim=True):
    """Members that make ``real/x/s`` lead ``ups`` levels above the release once all are in place.

    ``s -> b/../..`` is made (through the alias ``L -> real`` when ``through_alias``) while ``b``
    leads deeper, so it stays inside; a directory ``real/x/s/<victim>`` with mode 0777 is put
    through it then; ``b`` is re-pointed to the release root, so ``s`` now climbs out; and ``L`` is
    re-pointed so that ``L/x/s``, the name ``s`` was made under, no longer reaches it.
    Each member is (kind, name, link target or mode).
    """
    depth = max(1, ups - 2)
    xdir = "/".join(["real"] + ["x"] * depth)
    link_dir = "/".join(["L"] + ["x"] * depth) if through_alias else xdir
    members = [
        ("dir", "real/", 0o755),
        ("dir", xdir + "/y/", 0o755),
        ("sym", "L", "real"),
        ("sym", xdir + "/b", "y"),
        ("sym", link_dir + "/s", "/".join(["b"] + [".."] * ups)),
    ]
    if with_victim:
        members.append(("dir", "%s/s/%s/" % (xdir, victim), 0o777))
    members += [
        ("sym", xdir + "/b", "/".join([".."] * (depth + 1))),
        ("sym", "L", xdir),
    ]
    return members


def write_members(path, members, kind="tar"):
    """A tar.gz or zip at ``path`` of (kind, name, link target or mode) members, in order."""
    if kind == "tar":
        with tarfile.open(str(path), "w:gz") as tar:
            for member_kind, name, value in members:
                info = tarfile.TarInfo(name)
                if member_kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, value
                else:
                    info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, value
                tar.addfile(info)
        return str(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a re-pointed link is a duplicate name
        with zipfile.ZipFile(str(path), "w") as archive:
            for member_kind, name, value in members:
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                if member_kind == "dir":
                    info.external_attr = (stat.S_IFDIR | value) << 16
                    archive.writestr(info, b"")
                else:
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    archive.writestr(info, value.encode())
    return str(path)


def lstat_tree(top, skip):
    """{path: (mode, size, mtime_ns, link target)} by lstat for ``top`` and everything under it but ``skip``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(str(top)):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != str(skip)]
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st = os.lstat(name)
            found[name] = (st.st_mode, st.st_size, st.st_mtime_ns,
                           os.readlink(name) if stat.S_ISLNK(st.st_mode) else None)
    return found


def tar_gz(path, files):
    """A tar.gz at ``path`` of regular files, ``{name: bytes}`` in order; returns the path."""
    with tarfile.open(str(path), "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)
