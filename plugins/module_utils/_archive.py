# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction of release archives (.tar, .tar.gz/.tgz, .zip) into an empty directory.

Every member is checked before anything is written for it: no absolute paths, no ``..``,
no devices or fifos, and a running budget of members and uncompressed bytes that stops
decompression bombs while they are being read. Nothing is ever written through a link:
members are created relative to directory descriptors opened without following links, so
every directory on a member's path is a real directory inside the destination. Once all
members are in place the resulting tree itself is judged: a link anywhere in it that leads
outside the destination refuses the archive, before any directory mode is applied.
"""

from __future__ import annotations

import errno
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from typing import IO, Dict, List, Optional, Tuple, Union

DEFAULT_MAX_SIZE = 4 * 1024 ** 3
DEFAULT_MAX_MEMBERS = 200000
CHUNK_SIZE = 1024 * 1024
# Permission bits kept from the archive: everything but setuid/setgid.
MODE_MASK = 0o7777 & ~(stat.S_ISUID | stat.S_ISGID)
# Links followed while judging where one link leads; more than the kernel's 40, so whatever
# the kernel can resolve is judged, and a longer chain (a loop) is refused.
MAX_LINK_HOPS = 64

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)

Source = Union[str, IO[bytes]]


class ArchiveError(Exception):
    """An archive is unreadable, unsafe or too large to extract."""


class _LinkLoop(Exception):
    """A chain of links longer than MAX_LINK_HOPS."""


def _is_tar(handle: IO[bytes]) -> bool:
    try:
        with tarfile.open(fileobj=handle, mode="r:*"):
            return True
    except _CORRUPT_ERRORS + (OSError,):
        return False
    finally:
        handle.seek(0)


def _format_of(handle: IO[bytes], name: str) -> str:
    head = handle.read(512)
    handle.seek(0)
    if head.startswith((_GZIP_MAGIC, _BZIP2_MAGIC, _XZ_MAGIC)) or head[257:262] == b"ustar":
        return "tar"
    is_zip = head.startswith(_ZIP_MAGICS) or zipfile.is_zipfile(handle)
    handle.seek(0)
    if is_zip:
        return "zip"
    if _is_tar(handle):
        return "tar"
    raise ArchiveError(
        "%s is not a supported archive: expected a tar (optionally gzip, bzip2 or xz "
        "compressed) or zip file" % name
    )


def _open_source(src: str) -> IO[bytes]:
    try:
        return open(src, "rb")
    except OSError as exc:
        raise ArchiveError("cannot read archive %s: %s" % (src, exc.strerror or exc)) from exc


def archive_format(src: Source, name: Optional[str] = None) -> str:
    """Return ``tar`` or ``zip`` from the content (magic bytes), not the name.

    ``src`` is a path or a seekable binary file (read from its start, left at its start);
    ``name`` is what messages call it.
    """
    if isinstance(src, str):
        with _open_source(src) as handle:
            return _format_of(handle, name or src)
    src.seek(0)
    return _format_of(src, name or "the archive")


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


def _target_parts(target: str) -> List[str]:
    return [part for part in target.split("/") if part not in ("", ".")]


class _Extractor:
    """Writes checked members under ``dest``; tracks the member and byte budget.

    Paths handed to the write methods are relative (as ``member_path`` returns them) and are
    only ever reached by walking from the destination's descriptor, one real directory at a time.
    """

    def __init__(self, dest: str, max_size: int, max_members: int, strip_components: int):
        self.root_fd = os.open(dest, _DIR_FLAGS)
        self.max_size = max_size
        self.max_members = max_members
        self.strip_components = strip_components
        self.members = 0
        self.bytes = 0
        # relative directory path -> (member that set it, mode applied once all members are in)
        self.dir_modes: Dict[str, Tuple[str, int]] = {}
        # relative path of every link in the tree -> the member that made it
        self.link_members: Dict[str, str] = {}
        # the parent directory of the previous member, kept open: archives list siblings together
        # (a directory, once opened, stays that directory: nothing may replace it by another type)
        self._parent_cache: Optional[Tuple[Tuple[str, ...], int]] = None

    def close(self) -> None:
        if self._parent_cache is not None:
            os.close(self._parent_cache[1])
            self._parent_cache = None
        os.close(self.root_fd)

    # ---- budget ------------------------------------------------------------------------------

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

    # ---- walking the tree without following links ---------------------------------------------

    def target(self, name: str) -> Optional[str]:
        """Relative destination of a member, None when strip_components leaves nothing."""
        return member_path(name, self.strip_components)

    def _open_dir(self, parts: List[str]) -> int:
        """A new descriptor of the directory ``parts``, each component opened without following links."""
        current = os.open(".", _DIR_FLAGS, dir_fd=self.root_fd)
        try:
            for part in parts:
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
                os.close(current)
                current = following
        except BaseException:
            os.close(current)
            raise
        return current

    def _not_a_directory(self, name: str, walked: List[str], parent_fd: int) -> ArchiveError:
        try:
            is_link = stat.S_ISLNK(os.stat(walked[-1], dir_fd=parent_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return ArchiveError(
                "archive member %r would be written through a link at %r: expected real directories "
                "on its path" % (name, "/".join(walked))
            )
        return ArchiveError(
            "archive member %r needs %r to be a directory, but an earlier member made it a file"
            % (name, "/".join(walked))
        )

    def _parent(self, name: str, rel: str) -> Tuple[int, str]:
        """Descriptor of the member's parent directory (created as needed) and the member's last name.

        The descriptor belongs to the extractor (kept for the next member): callers never close it.
        """
        parts = rel.split("/")
        key = tuple(parts[:-1])
        if self._parent_cache is not None and self._parent_cache[0] == key:
            return self._parent_cache[1], parts[-1]
        current = os.open(".", _DIR_FLAGS, dir_fd=self.root_fd)
        walked: List[str] = []
        try:
            for part in key:
                walked.append(part)
                try:
                    following = os.open(part, _DIR_FLAGS, dir_fd=current)
                except FileNotFoundError:
                    os.mkdir(part, 0o755, dir_fd=current)
                    following = os.open(part, _DIR_FLAGS, dir_fd=current)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise self._not_a_directory(name, walked, current) from exc
                    raise
                os.close(current)
                current = following
        except BaseException:
            os.close(current)
            raise
        if self._parent_cache is not None:
            os.close(self._parent_cache[1])
        self._parent_cache = (key, current)
        return current, parts[-1]

    def _clear(self, name: str, rel: str, parent_fd: int, leaf: str, is_dir: bool) -> bool:
        """Make room for a member; True when a directory is already there (and one is wanted)."""
        try:
            st = os.stat(leaf, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode) != is_dir:
            raise ArchiveError(
                "archive member %r conflicts with an earlier member of another type at the same path"
                % name
            )
        if is_dir:
            return True
        os.unlink(leaf, dir_fd=parent_fd)
        self.link_members.pop(rel, None)
        return False

    def _resolve(self, start: List[str], target: str) -> Optional[List[str]]:
        """Where ``target``, read in the directory ``start``, leads: its real path's parts, None if outside.

        Follows the links of the tree (never one outside it); a component that does not exist
        is taken as it is written, so ``missing/..`` stays where it started.
        """
        if target.startswith("/"):
            return None
        resolved = list(start)
        pending = list(reversed(_target_parts(target)))
        hops = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if not resolved:
                    return None
                resolved.pop()
                continue
            candidate = "/".join(resolved + [part])
            try:
                st = os.stat(candidate, dir_fd=self.root_fd, follow_symlinks=False)
            except OSError:
                resolved.append(part)
                continue
            if not stat.S_ISLNK(st.st_mode):
                resolved.append(part)
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise _LinkLoop()
            link = os.readlink(candidate, dir_fd=self.root_fd)
            if link.startswith("/"):
                return None
            pending.extend(reversed(_target_parts(link)))
        return resolved

    def _leads_inside(self, name: str, start: List[str], target: str) -> bool:
        try:
            return self._resolve(start, target) is not None
        except _LinkLoop:
            raise ArchiveError(
                "archive member %r is a symlink to %r, which never resolves: a loop of links" % (name, target)
            ) from None

    # ---- members -------------------------------------------------------------------------------

    def directory(self, name: str, rel: str, mode: int) -> None:
        parent_fd, leaf = self._parent(name, rel)
        if not self._clear(name, rel, parent_fd, leaf, is_dir=True):
            os.mkdir(leaf, 0o700, dir_fd=parent_fd)
        self.dir_modes[rel] = (name, (mode & MODE_MASK) or 0o755)

    def regular(self, name: str, rel: str, mode: int, data: IO[bytes], mtime: Optional[float] = None) -> None:
        parent_fd, leaf = self._parent(name, rel)
        self._clear(name, rel, parent_fd, leaf, is_dir=False)
        fd = os.open(leaf, _NEW_FILE_FLAGS, 0o600, dir_fd=parent_fd)
        with os.fdopen(fd, "wb") as out:
            self.copy_data(name, data, out)
            out.flush()
            os.fchmod(fd, (mode & MODE_MASK) or 0o644)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))

    def symlink(self, name: str, rel: str, link_target: str) -> None:
        if not link_target or link_target.startswith("/") or "\0" in link_target:
            raise ArchiveError(
                "archive member %r is a symlink to %r: expected a relative target inside the release"
                % (name, link_target)
            )
        parent_fd, leaf = self._parent(name, rel)
        # Refused early when it already leads outside; where it leads in the end is judged in finish().
        if not self._leads_inside(name, rel.split("/")[:-1], link_target):
            raise ArchiveError(
                "archive member %r is a symlink to %r, which resolves outside the release"
                % (name, link_target)
            )
        self._clear(name, rel, parent_fd, leaf, is_dir=False)
        os.symlink(link_target, leaf, dir_fd=parent_fd)
        self.link_members[rel] = name

    def hardlink(self, name: str, rel: str, link_name: str) -> None:
        refused = ArchiveError(
            "archive member %r is a hardlink to %r: expected an earlier regular file "
            "inside the release" % (name, link_name)
        )
        try:
            source_rel = member_path(link_name, self.strip_components)
            source = self._resolve([], source_rel) if source_rel else None
        except (ArchiveError, _LinkLoop):
            source = None
        if not source:
            raise refused
        try:
            source_dir = self._open_dir(source[:-1])
        except OSError:
            raise refused from None
        try:
            try:
                source_st = os.stat(source[-1], dir_fd=source_dir, follow_symlinks=False)
            except OSError:
                raise refused from None
            if not stat.S_ISREG(source_st.st_mode):
                raise refused
            parent_fd, leaf = self._parent(name, rel)
            try:
                present = os.stat(leaf, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                present = None
            if present is not None and (present.st_dev, present.st_ino) == (source_st.st_dev, source_st.st_ino):
                return  # already that file (a hardlink to itself)
            self._clear(name, rel, parent_fd, leaf, is_dir=False)
            os.link(source[-1], leaf, src_dir_fd=source_dir, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(source_dir)

    # ---- the finished tree ---------------------------------------------------------------------

    def _check_links(self) -> None:
        """Judge every link of the tree as it now is, found by walking it with lstat."""
        pending: List[List[str]] = [[]]
        while pending:
            parts = pending.pop()
            fd = self._open_dir(parts)
            try:
                with os.scandir(fd) as entries:
                    found = [(entry.name, entry.is_symlink(), entry.is_dir(follow_symlinks=False))
                             for entry in entries]
                for entry_name, is_link, is_dir in found:
                    if is_link:
                        rel = "/".join(parts + [entry_name])
                        member = self.link_members.get(rel, rel)
                        target = os.readlink(entry_name, dir_fd=fd)
                        if not self._leads_inside(member, parts, target):
                            raise ArchiveError(
                                "archive member %r is a symlink that resolves outside the release once "
                                "all members are in place" % member
                            )
                    elif is_dir:
                        pending.append(parts + [entry_name])
            finally:
                os.close(fd)

    def finish(self) -> None:
        self._check_links()
        for rel in sorted(self.dir_modes, key=len, reverse=True):
            member, mode = self.dir_modes[rel]
            try:
                fd = self._open_dir(rel.split("/"))
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise ArchiveError(
                        "archive member %r: %r is no longer a directory once all members are in place"
                        % (member, rel)
                    ) from exc
                raise
            try:
                os.fchmod(fd, mode)
            finally:
                os.close(fd)


def _extract_tar(handle: IO[bytes], ext: _Extractor) -> None:
    with tarfile.open(fileobj=handle, mode="r:*") as archive:
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
            rel = ext.target(member.name)
            if rel is None:
                continue
            if member.isdir():
                ext.directory(member.name, rel, member.mode)
            elif member.issym():
                ext.symlink(member.name, rel, member.linkname)
            elif member.islnk():
                ext.hardlink(member.name, rel, member.linkname)
            else:
                ext.regular(member.name, rel, member.mode, archive.extractfile(member), member.mtime)


def _extract_zip(handle: IO[bytes], ext: _Extractor) -> None:
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            ext.count_member(info.filename, info.file_size)
            mode = info.external_attr >> 16
            file_type = stat.S_IFMT(mode)
            if file_type not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                raise ArchiveError(
                    "archive member %r is a device, fifo or socket: expected files, "
                    "directories and links" % info.filename
                )
            rel = ext.target(info.filename)
            if rel is None:
                continue
            if info.is_dir() or file_type == stat.S_IFDIR:
                ext.directory(info.filename, rel, mode)
            elif file_type == stat.S_IFLNK:
                with archive.open(info) as data:
                    link_target = data.read(4096).decode("utf-8", "surrogateescape")
                ext.symlink(info.filename, rel, link_target)
            else:
                with archive.open(info) as data:
                    ext.regular(info.filename, rel, mode, data)


def _extract(handle: IO[bytes], name: str, ext: _Extractor) -> None:
    extract = _extract_zip if _format_of(handle, name) == "zip" else _extract_tar
    try:
        extract(handle, ext)
    except _CORRUPT_ERRORS as exc:
        raise ArchiveError("cannot read archive %s: %s" % (name, exc)) from exc
    ext.finish()


def extract_archive(
    src: Source,
    dest: str,
    max_size: int = DEFAULT_MAX_SIZE,
    max_members: int = DEFAULT_MAX_MEMBERS,
    strip_components: int = 0,
    name: Optional[str] = None,
) -> Dict[str, int]:
    """Extract ``src`` into the existing directory ``dest``; return {members, bytes}.

    ``src`` is a path, opened once, or a seekable binary file read from its start (so the
    bytes extracted can be exactly the bytes a caller verified); ``name`` is what messages
    call it. On error ``dest`` may hold a partial extraction: the caller owns and removes it;
    nothing outside ``dest`` is changed. OSError (e.g. ENOSPC) propagates unchanged.
    """
    if strip_components < 0:
        raise ArchiveError("strip_components is %d: expected 0 or more" % strip_components)
    ext = _Extractor(dest, max_size, max_members, strip_components)
    try:
        if isinstance(src, str):
            with _open_source(src) as handle:
                _extract(handle, name or src, ext)
        else:
            src.seek(0)
            _extract(src, name or "the archive", ext)
    finally:
        ext.close()
    return {"members": ext.members, "bytes": ext.bytes}
