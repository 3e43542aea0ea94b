# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction of release archives (.tar, .tar.gz/.tgz, .zip) into an empty directory.

Every member is checked before anything is written for it: no absolute paths, no ``..``,
no links leading outside the destination, no devices or fifos, and a running budget of
members and uncompressed bytes that stops decompression bombs while they are being read.
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from typing import IO, Dict, List, Optional, Tuple

DEFAULT_MAX_SIZE = 4 * 1024 ** 3
DEFAULT_MAX_MEMBERS = 200000
CHUNK_SIZE = 1024 * 1024
# Permission bits kept from the archive: everything but setuid/setgid.
MODE_MASK = 0o7777 & ~(stat.S_ISUID | stat.S_ISGID)

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)


class ArchiveError(Exception):
    """An archive is unreadable, unsafe or too large to extract."""


def archive_format(path: str) -> str:
    """Return ``tar`` or ``zip`` from the file's content (magic bytes), not its name."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise ArchiveError("cannot read archive %s: %s" % (path, exc.strerror or exc)) from exc
    if head.startswith((_GZIP_MAGIC, _BZIP2_MAGIC, _XZ_MAGIC)) or head[257:262] == b"ustar":
        return "tar"
    if head.startswith(_ZIP_MAGICS) or zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ArchiveError(
        "%s is not a supported archive: expected a tar (optionally gzip, bzip2 or xz "
        "compressed) or zip file" % path
    )


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def member_path(name: str, strip_components: int = 0) -> Optional[str]:
    """Relative path a member is extracted to, None if stripping leaves nothing.

    Raises ArchiveError for absolute names and ``..`` components.
    """
    if name.startswith("/"):
        raise ArchiveError("archive member %r has an absolute path: expected a relative one" % name)
    if "\0" in name:
        raise ArchiveError("archive member %r contains a NUL byte" % name)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("archive member %r contains '..': expected a path inside the archive" % name)
    parts = parts[strip_components:]
    return "/".join(parts) if parts else None


class _Extractor:
    """Writes checked members under ``dest``; tracks the member and byte budget."""

    def __init__(self, dest: str, max_size: int, max_members: int, strip_components: int):
        self.dest = os.path.realpath(dest)
        self.max_size = max_size
        self.max_members = max_members
        self.strip_components = strip_components
        self.members = 0
        self.bytes = 0
        self.dir_modes: Dict[str, int] = {}
        self.symlinks: List[Tuple[str, str]] = []

    def count_member(self, name: str, declared_size: int) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveError(
                "archive has more than %d members (stopped at %r): refusing it as a "
                "possible decompression bomb" % (self.max_members, name)
            )
        if self.bytes + max(declared_size, 0) > self.max_size:
            self._too_big(name)

    def _too_big(self, name: str) -> None:
        raise ArchiveError(
            "archive unpacks to more than %d bytes (reached at member %r): refusing it as a "
            "possible decompression bomb" % (self.max_size, name)
        )

    def target(self, name: str) -> Optional[str]:
        """Absolute destination of a member whose parent directory is inside ``dest``."""
        rel = member_path(name, self.strip_components)
        if rel is None:
            return None
        path = os.path.join(self.dest, rel)
        parent = os.path.realpath(os.path.dirname(path))
        if not _within(parent, self.dest):
            raise ArchiveError(
                "archive member %r would be written through a link to %s, outside the release"
                % (name, parent)
            )
        return path

    def _prepare(self, name: str, path: str, is_dir: bool) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode) != is_dir:
            raise ArchiveError(
                "archive member %r conflicts with an earlier member of another type at the same path"
                % name
            )
        if not is_dir:
            os.unlink(path)

    def directory(self, name: str, path: str, mode: int) -> None:
        self._prepare(name, path, is_dir=True)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
        self.dir_modes[path] = (mode & MODE_MASK) or 0o755

    def regular(self, name: str, path: str, mode: int, data: IO[bytes]) -> None:
        self._prepare(name, path, is_dir=False)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            self.copy_data(name, data, out)
            os.fchmod(out.fileno(), (mode & MODE_MASK) or 0o644)

    def copy_data(self, name: str, data: IO[bytes], out: IO[bytes]) -> None:
        """Copy member data, counting real bytes: headers may lie, the budget does not."""
        while True:
            chunk = data.read(CHUNK_SIZE)
            if not chunk:
                return
            self.bytes += len(chunk)
            if self.bytes > self.max_size:
                self._too_big(name)
            out.write(chunk)

    def symlink(self, name: str, path: str, link_target: str) -> None:
        if not link_target or link_target.startswith("/") or "\0" in link_target:
            raise ArchiveError(
                "archive member %r is a symlink to %r: expected a relative target inside the release"
                % (name, link_target)
            )
        resolved = os.path.realpath(os.path.join(os.path.dirname(path), link_target))
        if not _within(resolved, self.dest):
            raise ArchiveError(
                "archive member %r is a symlink to %r, which resolves outside the release"
                % (name, link_target)
            )
        self._prepare(name, path, is_dir=False)
        os.symlink(link_target, path)
        self.symlinks.append((name, path))

    def hardlink(self, name: str, path: str, link_name: str) -> None:
        try:
            rel = member_path(link_name, self.strip_components)
        except ArchiveError:
            rel = None
        source = os.path.realpath(os.path.join(self.dest, rel)) if rel else None
        if source is None or not _within(source, self.dest) or not os.path.isfile(source):
            raise ArchiveError(
                "archive member %r is a hardlink to %r: expected an earlier regular file "
                "inside the release" % (name, link_name)
            )
        self._prepare(name, path, is_dir=False)
        os.link(source, path)

    def finish(self) -> None:
        # A later symlink can change where an earlier one leads, so check them all at the end.
        for name, path in self.symlinks:
            if not _within(os.path.realpath(path), self.dest):
                raise ArchiveError(
                    "archive member %r is a symlink that resolves outside the release once "
                    "all members are in place" % name
                )
        for path in sorted(self.dir_modes, key=len, reverse=True):
            os.chmod(path, self.dir_modes[path])


def _extract_tar(src: str, ext: _Extractor) -> None:
    with tarfile.open(src, "r:*") as archive:
        for member in archive:
            ext.count_member(member.name, member.size if member.isreg() else 0)
            if member.isdev():
                raise ArchiveError(
                    "archive member %r is a device or fifo: expected files, directories and links"
                    % member.name
                )
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                raise ArchiveError(
                    "archive member %r has unsupported tar type %r" % (member.name, member.type)
                )
            path = ext.target(member.name)
            if path is None:
                continue
            if member.isdir():
                ext.directory(member.name, path, member.mode)
            elif member.issym():
                ext.symlink(member.name, path, member.linkname)
            elif member.islnk():
                ext.hardlink(member.name, path, member.linkname)
            else:
                data = archive.extractfile(member)
                ext.regular(member.name, path, member.mode, data)
                os.utime(path, (member.mtime, member.mtime))


def _extract_zip(src: str, ext: _Extractor) -> None:
    with zipfile.ZipFile(src) as archive:
        for info in archive.infolist():
            ext.count_member(info.filename, info.file_size)
            mode = info.external_attr >> 16
            file_type = stat.S_IFMT(mode)
            if file_type not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                raise ArchiveError(
                    "archive member %r is a device, fifo or socket: expected files, "
                    "directories and links" % info.filename
                )
            path = ext.target(info.filename)
            if path is None:
                continue
            if info.is_dir() or file_type == stat.S_IFDIR:
                ext.directory(info.filename, path, mode)
            elif file_type == stat.S_IFLNK:
                with archive.open(info) as data:
                    link_target = data.read(4096).decode("utf-8", "surrogateescape")
                ext.symlink(info.filename, path, link_target)
            else:
                with archive.open(info) as data:
                    ext.regular(info.filename, path, mode, data)


def extract_archive(
    src: str,
    dest: str,
    max_size: int = DEFAULT_MAX_SIZE,
    max_members: int = DEFAULT_MAX_MEMBERS,
    strip_components: int = 0,
) -> Dict[str, int]:
    """Extract ``src`` into the existing directory ``dest``; return {members, bytes}.

    On error ``dest`` may hold a partial extraction: the caller owns and removes it.
    OSError (e.g. ENOSPC) propagates unchanged.
    """
    if strip_components < 0:
        raise ArchiveError("strip_components is %d: expected 0 or more" % strip_components)
    ext = _Extractor(dest, max_size, max_members, strip_components)
    extract = _extract_zip if archive_format(src) == "zip" else _extract_tar
    try:
        extract(src, ext)
    except _CORRUPT_ERRORS as exc:
        raise ArchiveError("cannot read archive %s: %s" % (src, exc)) from exc
    ext.finish()
    return {"members": ext.members, "bytes": ext.bytes}
