# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction of release archives (.tar, .tar.gz/.tgz, .zip) into an empty directory.

Every member is checked before anything is written for it: no absolute paths, no ``..``,
no devices, fifos or sparse files, names within the system's limits and at most
``MAX_DEPTH`` directories deep, and a running budget of entries and uncompressed bytes that
stops decompression bombs while they are being read. Tar headers are judged before tarfile
reads what they announce, so a header cannot make it hold more than ``MAX_EXTENDED_HEADERS``
bytes. Nothing is ever written through a link: members are created relative to directory
descriptors opened without following links, so every directory on a member's path is a real
directory inside the destination.

Once all members are in place the resulting tree itself is judged: a link anywhere in it that
leads outside the destination refuses the archive, before any directory mode is applied. Links
are resolved one name at a time through directory descriptors, the way the kernel does, never
through a path string; a lookup that fails for any reason but "no such entry" refuses the archive
(fail closed), and the work is bounded (``MAX_JUDGE_STEPS``).
"""

from __future__ import annotations

import collections
import errno
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

DEFAULT_MAX_SIZE = 4 * 1024 ** 3
DEFAULT_MAX_MEMBERS = 200000
CHUNK_SIZE = 1024 * 1024
# Permission bits kept from the archive: no setuid/setgid, no sticky bit, nothing writable by others.
MODE_MASK = 0o7777 & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWOTH)
# Links followed while judging where one link leads; more than the kernel's 40, so whatever
# the kernel can resolve is judged, and a longer chain (a loop) is refused.
MAX_LINK_HOPS = 64
# The system's limits: a path (a member's name, a link's target) must be shorter than PATH_MAX
# bytes, and each name in it at most NAME_MAX bytes.
PATH_MAX = 4096
NAME_MAX = 255
# Directories on a member's path: each one is made (and later judged and removed) for it.
MAX_DEPTH = 256
# Tar extended headers (pax, GNU long names) are read whole by tarfile: the bytes of those before
# one member, and of all global pax headers (kept until the end), are bounded before they are read.
MAX_EXTENDED_HEADERS = 1024 * 1024
MAX_EXTENDED_CHAIN = 16
# Names looked up and path components walked while judging one archive's links; far above what
# real archives need (with memoised links, a few per link), far below what takes minutes.
MAX_JUDGE_STEPS = 10 * 1000 * 1000
# Directory descriptors kept open between lookups while judging.
_FD_CACHE_SIZE = 32

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_GNU_LONG_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)

Source = Union[str, IO[bytes]]
# {path in the destination: (the shared directory the link there leads to, whether the release seeded it)}
SharedLinks = Dict[str, Tuple[str, bool]]


class ArchiveError(LastmileError):
    """An archive is unreadable, unsafe or too large to extract."""


def _shown(text: str, limit: int = 100) -> str:
    """``repr(text)``, cut in the middle when longer than ``limit`` characters: names can be 4 KiB."""
    shown = repr(text)
    if len(shown) <= limit:
        return shown
    return "%s...%s (%d characters)" % (shown[:limit // 2], shown[-(limit // 4):], len(text))


def _path_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a path on this system (too long, a name too long), None if it can."""
    try:
        size = len(os.fsencode(path))
    except UnicodeEncodeError:
        return "is not a valid file name"
    if size >= PATH_MAX:
        return "is %d bytes long: expected less than %d bytes (PATH_MAX)" % (size, PATH_MAX)
    for part in path.split("/"):
        length = len(os.fsencode(part))
        if length > NAME_MAX:
            return "has a name of %d bytes, %s: expected at most %d bytes per name (NAME_MAX)" % (
                length, _shown(part, 40), NAME_MAX)
    return None


# ---- tar headers judged before tarfile reads what they announce ------------------------------------

def _check_header(info: tarfile.TarInfo, seen: Dict[str, int]) -> None:
    """Refuse a header whose announced data tarfile would read whole into memory, past the bounds."""
    if info.size < 0:
        raise ArchiveError("archive member %s has a negative size (%d)" % (_shown(info.name), info.size))
    if info.type == tarfile.GNUTYPE_SPARSE:
        raise _sparse(info.name)
    if info.type not in _PAX_TYPES + _GNU_LONG_TYPES:
        seen["chain"] = seen["chain_bytes"] = 0
        return
    seen["chain"] += 1
    seen["chain_bytes"] += info.size
    if seen["chain_bytes"] > MAX_EXTENDED_HEADERS:
        raise ArchiveError(
            "archive has %d bytes of extended headers (pax, GNU long names) before one member: expected "
            "at most %d; refusing it before reading them" % (seen["chain_bytes"], MAX_EXTENDED_HEADERS)
        )
    if info.type == tarfile.XGLTYPE:
        seen["global_bytes"] += info.size
        if seen["global_bytes"] > MAX_EXTENDED_HEADERS:
            raise ArchiveError(
                "archive has %d bytes of global pax headers: expected at most %d; refusing it before reading them"
                % (seen["global_bytes"], MAX_EXTENDED_HEADERS)
            )
    if seen["chain"] > MAX_EXTENDED_CHAIN:
        raise ArchiveError(
            "archive has more than %d extended headers (pax, GNU long names) in a row before a member"
            % MAX_EXTENDED_CHAIN
        )


def _sparse(name: str) -> ArchiveError:
    return ArchiveError(
        "archive member %s is a sparse file: expected files, directories and links (create the "
        "archive without --sparse)" % _shown(name)
    )


def _checked_tarinfo() -> type:
    """A TarInfo class for one archive: every header is judged (``_check_header``) before tarfile reads
    the data it announces.

    ``frombuf`` and ``fromtarfile`` are public TarInfo API (Python 3.8 to 3.13 alike): tarfile reads
    every header block, the extended ones included, through them before any of its data. GNU sparse
    1.0 maps are read by the private ``_proc_gnusparse_10`` (present in 3.8 to 3.13); where a Python
    lacks it the override is unused and the member is still refused, once read, as sparse.
    """
    seen = {"chain": 0, "chain_bytes": 0, "global_bytes": 0}

    class CheckedTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf, encoding, errors):  # type: ignore[no-untyped-def]
            info = super().frombuf(buf, encoding, errors)
            _check_header(info, seen)
            return info

        def _proc_gnusparse_10(self, next, pax_headers, tarfile):  # type: ignore[no-untyped-def]  # pylint: disable=redefined-builtin,redefined-outer-name
            # would read a sparse map of any length from the data, before any budget applies;
            # the names are tarfile's own (this overrides its method)
            raise _sparse(pax_headers.get("GNU.sparse.name", next.name))

    return CheckedTarInfo


def _open_tar(handle: IO[bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=handle, mode="r:*", tarinfo=_checked_tarinfo())


def _tar_members(archive: tarfile.TarFile):  # type: ignore[no-untyped-def]
    """The archive's members, one at a time: tarfile would keep every member read (with its pax headers)."""
    while True:
        member = archive.next()
        if member is None:
            return
        del archive.members[:]
        yield member


def _is_tar(handle: IO[bytes]) -> bool:
    try:
        with _open_tar(handle):
            return True
    except ArchiveError:
        return True  # a tar, whose headers extraction will refuse
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

    Raises ArchiveError for absolute names, ``..`` components, names past the system's limits
    and paths more than ``MAX_DEPTH`` directories deep.
    """
    if name.startswith("/"):
        raise ArchiveError("archive member %s has an absolute path: expected a relative one" % _shown(name))
    if "\0" in name:
        raise ArchiveError("archive member %s contains a NUL byte" % _shown(name))
    problem = _path_problem(name)
    if problem:
        raise ArchiveError("archive member %s %s" % (_shown(name), problem))
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("archive member %s contains '..': expected a path inside the archive" % _shown(name))
    parts = parts[strip_components:]
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(
            "archive member %s is %d levels deep: expected at most %d" % (_shown(name), len(parts), MAX_DEPTH)
        )
    return "/".join(parts) if parts else None


def _target_parts(target: str) -> List[str]:
    return [part for part in target.split("/") if part not in ("", ".")]


# ---- judging where links lead ----------------------------------------------------------------------

_DIR, _LINK, _OTHER, _SHARED = "dir", "link", "other", "shared"
_BUSY = object()


class _Node:
    """An entry of a tree being judged: a directory, a link, anything else, or a shared path's link.

    A node without a parent is the root of a jail (the release, or a shared directory): ``..``
    from it leads out of the jail.
    """

    __slots__ = ("name", "parent", "kind", "target", "children", "listed", "result", "jail")

    def __init__(self, name: str, parent: Optional["_Node"], kind: str, target: Optional[str] = None):
        self.name = name
        self.parent = parent
        self.kind = kind
        self.target = target
        self.children: Dict[str, Optional[_Node]] = {}
        self.listed = False  # every child is in ``children`` (absent ones are missing)
        self.result: Any = None  # a link's resolution, once known: memoised within one judgement
        self.jail: Optional[_Node] = None  # a shared path's link: the shared directory it leads to

    def path(self) -> str:
        """Where the node is, for messages: its names from its jail's root (named for a shared path)."""
        names = []
        node: Optional[_Node] = self
        while node is not None:
            if node.name:
                names.append(node.name)
            node = node.parent
        return "/".join(reversed(names)) or "."


class _Outside(Exception):
    """A resolution that climbs out of the jail whose root node it carries."""

    def __init__(self, root: _Node):
        super().__init__(root.name)
        self.root = root


class _LinkLoop(Exception):
    """A chain of links longer than MAX_LINK_HOPS."""


class _TooCostly(Exception):
    """The judgement took more than MAX_JUDGE_STEPS."""


class _Unjudgeable(Exception):
    """A lookup failed for another reason than a missing entry: nothing is assumed about it."""

    def __init__(self, where: str, error: OSError):
        super().__init__(where)
        self.where = where
        self.reason = error.strerror or str(error)


class _Budget:
    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def spend(self, steps: int = 1) -> None:
        self.used += steps
        if self.used > self.limit:
            raise _TooCostly()


def _node_for(name: str, parent: _Node, mode: int, dir_fd: int) -> _Node:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            raise _Unjudgeable(_join(parent.path(), name), exc) from None
        return _Node(name, parent, _LINK, target)
    return _Node(name, parent, _DIR if stat.S_ISDIR(mode) else _OTHER)


def _join(path: str, name: str) -> str:
    return name if path == "." else path + "/" + name


class _Tree:
    """Trees read through directory descriptors, one name at a time, for judging where links lead.

    Lookups are read lazily (``lstat`` relative to the parent's descriptor) and kept: a judgement
    sees the tree as it was when it looked. ``list_all`` reads whole trees at once.
    """

    def __init__(self, root_fd: int, budget: _Budget):
        self.budget = budget
        self.root = _Node("", None, _DIR)
        self._root_fds: Dict[_Node, int] = {self.root: root_fd}
        self._owned: List[int] = []
        self._fds: "collections.OrderedDict[_Node, int]" = collections.OrderedDict()

    def close(self) -> None:
        for fd in list(self._fds.values()) + self._owned:
            os.close(fd)
        self._fds.clear()
        del self._owned[:]

    def add_jail(self, name: str, path: str) -> _Node:
        """The root of the jail at ``path`` (a shared directory, or file), reached however ``path`` leads."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except NotADirectoryError:
            return _Node(name, None, _OTHER)
        except OSError as exc:
            raise _Unjudgeable(path, exc) from None
        self._owned.append(fd)
        node = _Node(name, None, _DIR)
        self._root_fds[node] = fd
        return node

    def fd(self, node: _Node) -> int:
        """A descriptor of the directory ``node``, opened without following links, kept for a while."""
        if node in self._root_fds:
            return self._root_fds[node]
        fd = self._fds.get(node)
        if fd is not None:
            self._fds.move_to_end(node)
            return fd
        missing = []
        while node not in self._root_fds and node not in self._fds:
            missing.append(node)
            node = node.parent  # type: ignore[assignment]
        fd = self.fd(node)
        for child in reversed(missing):
            self.budget.spend()
            try:
                fd = os.open(child.name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _Unjudgeable(child.path(), exc) from None
            self._fds[child] = fd
            if len(self._fds) > _FD_CACHE_SIZE:
                os.close(self._fds.popitem(last=False)[1])
        return fd

    def child(self, node: _Node, name: str) -> Optional[_Node]:
        """The entry ``name`` of the directory ``node``, None when there is none (or ``node`` is no directory)."""
        if node.kind != _DIR:
            return None
        if name in node.children:
            return node.children[name]
        if node.listed:
            return None
        self.budget.spend()
        fd = self.fd(node)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            found = None
        except OSError as exc:
            raise _Unjudgeable(_join(node.path(), name), exc) from None
        else:
            found = _node_for(name, node, st.st_mode, fd)
        node.children[name] = found
        return found

    def list_all(self, top: _Node, prefix: str, links: Dict[str, _Node]) -> None:
        """Read every directory under ``top`` (a jail root), adding each link to ``links`` by its path
        (``prefix`` and its path under ``top``); one descriptor per level, no recursion."""
        fd = self.fd(top)
        stack: List[Tuple[_Node, int, str, List[_Node]]] = [(top, fd, prefix, [])]
        try:
            stack[-1] = (top, fd, prefix, self._list(top, fd, prefix, links))
            while stack:
                node, fd, rel, subdirs = stack[-1]
                if not subdirs:
                    stack.pop()
                    if node is not top:
                        os.close(fd)
                    continue
                child = subdirs.pop()
                try:
                    child_fd = os.open(child.name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _Unjudgeable(child.path(), exc) from None
                child_rel = _join(rel or ".", child.name)
                stack.append((child, child_fd, child_rel, []))
                stack[-1] = (child, child_fd, child_rel, self._list(child, child_fd, child_rel, links))
        finally:
            for node, fd, _rel, _subdirs in stack:
                if node is not top:
                    os.close(fd)

    def _list(self, node: _Node, fd: int, rel: str, links: Dict[str, _Node]) -> List[_Node]:
        subdirs = []
        name = None
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_symlink():
                        child = _Node(name, node, _LINK, os.readlink(name, dir_fd=fd))
                        links[_join(rel or ".", name)] = child
                    elif entry.is_dir(follow_symlinks=False):
                        child = _Node(name, node, _DIR)
                        subdirs.append(child)
                    else:
                        child = _Node(name, node, _OTHER)
                    node.children[name] = child
        except OSError as exc:
            raise _Unjudgeable(node.path() if name is None else _join(node.path(), name), exc) from None
        node.listed = True
        return subdirs

    def resolve(self, start: _Node, target: str, depth: int = 0) -> Tuple[_Node, Tuple[str, ...], int]:
        """Where ``target``, read in the directory ``start``, leads: (the deepest entry that exists,
        the names below it that do not, links followed).

        Follows links as the kernel would, each one once per judgement (memoised); a name that does
        not exist is taken as written, so ``missing/..`` stays where it started. Raises _Outside when
        it climbs out of its jail (an absolute target does), _LinkLoop past MAX_LINK_HOPS.
        """
        if target.startswith("/"):
            raise _Outside(_jail_of(start))
        node = start
        virtual: List[str] = []
        hops = 0
        pending = _target_parts(target)
        pending.reverse()
        spend = self.budget.spend
        while pending:
            spend()
            part = pending.pop()
            if part == "..":
                if virtual:
                    virtual.pop()
                elif node.parent is None:
                    raise _Outside(node)
                else:
                    node = node.parent
                continue
            if virtual:
                virtual.append(part)
                continue
            child = self.child(node, part)
            if child is None:
                virtual.append(part)
            elif child.kind == _LINK:
                node, rest, followed = self.follow(child, depth + hops + 1)
                hops += followed + 1
                if depth + hops > MAX_LINK_HOPS:
                    raise _LinkLoop()
                spend(len(rest))
                virtual = list(rest)
            elif child.kind == _SHARED:
                node = child.jail  # type: ignore[assignment]
            else:
                node = child
        return node, tuple(virtual), hops

    def follow(self, link: _Node, depth: int = 0) -> Tuple[_Node, Tuple[str, ...], int]:
        """``resolve`` of the link's target in its own directory, computed once."""
        if depth > MAX_LINK_HOPS or link.result is _BUSY:
            raise _LinkLoop()
        if isinstance(link.result, _Outside):
            raise link.result
        if link.result is None:
            link.result = _BUSY
            try:
                link.result = self.resolve(link.parent, link.target, depth)  # type: ignore[arg-type]
            except _Outside as outside:
                link.result = outside
                raise
            except BaseException:
                link.result = None
                raise
        return link.result  # type: ignore[no-any-return]

    def node_at(self, parts: List[str]) -> _Node:
        """The node of the directory ``parts`` under the root (a real directory, as extraction made it)."""
        node = self.root
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = _Node(part, node, _DIR)
                node.children[part] = child
            node = child
        return node


def _jail_of(node: _Node) -> _Node:
    while node.parent is not None:
        node = node.parent
    return node


def _apply_modes(top_fd: int, prefix: str, modes: Dict[str, int]) -> None:
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
                child_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
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


# ---- extraction -----------------------------------------------------------------------------------

class _Extractor:
    """Writes checked members under ``dest``; tracks the entry and byte budget.

    Paths handed to the write methods are relative (as ``member_path`` returns them) and are
    only ever reached by walking from the destination's descriptor, one real directory at a time.
    """

    def __init__(self, dest: str, max_size: int, max_members: int, strip_components: int):
        self.root_fd = os.open(dest, _DIR_FLAGS)
        self.max_size = max_size
        self.max_members = max_members
        self.strip_components = strip_components
        self.members = 0
        self.made_dirs = 0  # directories made for members' paths, counted with the members
        self.bytes = 0
        self.budget = _Budget(MAX_JUDGE_STEPS)
        # relative directory path -> mode applied once the tree is judged
        self.dir_modes: Dict[str, int] = {}
        # relative path of every link in the tree -> the member that made it (in the order they were made)
        self.link_members: Dict[str, str] = {}
        # descriptors of the previous member's parent directories, from the root down: archives list
        # siblings together (a directory, once opened, stays that directory: nothing may replace it)
        self._chain: List[Tuple[str, int]] = []

    def close(self) -> None:
        self._close_chain(0)
        os.close(self.root_fd)

    def _close_chain(self, keep: int) -> None:
        for _part, fd in self._chain[keep:]:
            os.close(fd)
        del self._chain[keep:]

    # ---- budget ------------------------------------------------------------------------------

    def count_member(self, name: str, declared_size: int) -> None:
        self.members += 1
        self._check_entries(name)
        if self.bytes + max(declared_size, 0) > self.max_size:
            self._too_big(name)

    def _check_entries(self, name: str) -> None:
        if self.members + self.made_dirs <= self.max_members:
            return
        counting = (" (counting the %d directories made for members' paths)" % self.made_dirs) if self.made_dirs else ""
        raise ArchiveError(
            "archive has more than %d members%s (stopped at %s): refusing it as a "
            "possible decompression bomb" % (self.max_members, counting, _shown(name))
        )

    def _too_big(self, name: str) -> None:
        raise ArchiveError(
            "archive unpacks to more than %d bytes (reached at member %s): refusing it as a "
            "possible decompression bomb" % (self.max_size, _shown(name))
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

    def _not_a_directory(self, name: str, walked: List[str], parent_fd: int) -> ArchiveError:
        try:
            is_link = stat.S_ISLNK(os.stat(walked[-1], dir_fd=parent_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return ArchiveError(
                "archive member %s would be written through a link at %s: expected real directories "
                "on its path" % (_shown(name), _shown("/".join(walked)))
            )
        return ArchiveError(
            "archive member %s needs %s to be a directory, but an earlier member made it a file"
            % (_shown(name), _shown("/".join(walked)))
        )

    def _parent(self, name: str, rel: str) -> Tuple[int, str]:
        """Descriptor of the member's parent directory (created as needed) and the member's last name.

        The descriptor belongs to the extractor (kept for the next member): callers never close it.
        Only the directories after those shared with the previous member's path are opened.
        """
        parts = rel.split("/")
        wanted = parts[:-1]
        chain = self._chain
        keep = 0
        while keep < len(chain) and keep < len(wanted) and chain[keep][0] == wanted[keep]:
            keep += 1
        self._close_chain(keep)
        current = chain[-1][1] if chain else self.root_fd
        for index in range(keep, len(wanted)):
            part = wanted[index]
            try:
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
            except FileNotFoundError:
                self.made_dirs += 1
                self._check_entries(name)
                os.mkdir(part, 0o755, dir_fd=current)
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise self._not_a_directory(name, wanted[:index + 1], current) from exc
                raise
            chain.append((part, following))
            current = following
        return current, parts[-1]

    def _clear(self, name: str, rel: str, parent_fd: int, leaf: str, is_dir: bool) -> bool:
        """Make room for a member; True when a directory is already there (and one is wanted)."""
        try:
            st = os.stat(leaf, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode) != is_dir:
            raise ArchiveError(
                "archive member %s conflicts with an earlier member of another type at the same path"
                % _shown(name)
            )
        if is_dir:
            return True
        os.unlink(leaf, dir_fd=parent_fd)
        self.link_members.pop(rel, None)
        return False

    def _judging(self, member: Optional[str], described: str, judge: Callable[[], Any]) -> Any:
        """Run one judgement; its failures to judge become refusals naming ``member`` (which ``described``),
        or the place that could not be read (``member`` None)."""
        try:
            return judge()
        except _LinkLoop:
            raise ArchiveError(
                "archive member %s %s, which never resolves: a loop of links (or a chain of more than %d)"
                % (_shown(member), described, MAX_LINK_HOPS)
            ) from None
        except _TooCostly:
            raise ArchiveError(
                "archive is too costly to judge: where its links lead took more than %d lookups to find "
                "(stopped at member %s); refusing it" % (MAX_JUDGE_STEPS, _shown(member))
            ) from None
        except _Unjudgeable as failed:
            if member is None:
                raise ArchiveError(
                    "cannot read the unpacked archive at %s: %s; refusing it" % (_shown(failed.where), failed.reason)
                ) from None
            raise ArchiveError(
                "cannot judge where archive member %s leads: %s at %s; refusing it"
                % (_shown(member), failed.reason, _shown(failed.where))
            ) from None

    # ---- members -------------------------------------------------------------------------------

    def directory(self, name: str, rel: str, mode: int) -> None:
        parent_fd, leaf = self._parent(name, rel)
        if not self._clear(name, rel, parent_fd, leaf, is_dir=True):
            os.mkdir(leaf, 0o700, dir_fd=parent_fd)
        self.dir_modes[rel] = (mode & MODE_MASK) or 0o755

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
                "archive member %s is a symlink to %s: expected a relative target inside the release"
                % (_shown(name), _shown(link_target))
            )
        problem = _path_problem(link_target)
        if problem:
            raise ArchiveError("archive member %s is a symlink to %s, which %s" % (_shown(name), _shown(link_target), problem))
        parent_fd, leaf = self._parent(name, rel)
        # Refused early when it already leads outside; where it leads in the end is judged in finish().
        tree = _Tree(self.root_fd, self.budget)
        try:
            self._judging(name, "is a symlink to %s" % _shown(link_target),
                          lambda: tree.resolve(tree.node_at(rel.split("/")[:-1]), link_target))
        except _Outside:
            raise ArchiveError(
                "archive member %s is a symlink to %s, which resolves outside the release"
                % (_shown(name), _shown(link_target))
            ) from None
        finally:
            tree.close()
        self._clear(name, rel, parent_fd, leaf, is_dir=False)
        os.symlink(link_target, leaf, dir_fd=parent_fd)
        self.link_members[rel] = name

    def hardlink(self, name: str, rel: str, link_name: str) -> None:
        refused = ArchiveError(
            "archive member %s is a hardlink to %s: expected an earlier regular file "
            "inside the release" % (_shown(name), _shown(link_name))
        )
        try:
            source_rel = member_path(link_name, self.strip_components)
        except ArchiveError:
            source_rel = None
        if not source_rel:
            raise refused
        described = "is a hardlink to %s" % _shown(link_name)
        tree = _Tree(self.root_fd, self.budget)
        try:
            try:
                source, rest, _hops = self._judging(name, described, lambda: tree.resolve(tree.root, source_rel))
            except _Outside:
                raise refused from None
            if rest or source.kind != _OTHER:
                raise refused
            source_dir = self._judging(name, described, lambda: tree.fd(source.parent))
            try:
                source_st = os.stat(source.name, dir_fd=source_dir, follow_symlinks=False)
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
            os.link(source.name, leaf, src_dir_fd=source_dir, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            tree.close()

    # ---- the finished tree ---------------------------------------------------------------------

    def _judge(self, shared: SharedLinks) -> None:
        """Judge every link of the tree as it now is (read with lstat), and of the shared directories
        the release seeded; a link may lead into a shared path but never climb out of it.

        A shared path's link is not followed as a path: it is the door to a jail rooted at the shared
        directory, judged like the release (``..`` from its root leads out). Refusing every link that
        passes through a shared path would be simpler, but would refuse releases that link to their own
        shared data (``app.log -> logs/app.log``); the jail keeps those and refuses only what climbs out.
        """
        tree = _Tree(self.root_fd, self.budget)
        try:
            links: Dict[str, _Node] = {}
            self._judging(None, "", lambda: tree.list_all(tree.root, "", links))
            for rel, (path, seeded) in shared.items():
                made = links.pop(rel, None)
                if made is None:
                    raise ArchiveError("shared path %s is not the link made for it in the release" % _shown(rel))
                jail = self._judging(None, "", lambda: tree.add_jail(rel, path))
                made.kind, made.jail = _SHARED, jail
                if seeded and jail.kind == _DIR:
                    self._judging(None, "", lambda: tree.list_all(jail, rel, links))
            ordered = [rel for rel in self.link_members if rel in links]
            ordered += [rel for rel in links if rel not in self.link_members]
            for rel in ordered:
                member = self.link_members.get(rel, rel)
                try:
                    self._judging(member, "is a symlink to %s" % _shown(links[rel].target or ""),
                                  lambda: tree.follow(links[rel]))
                except _Outside as outside:
                    if outside.root is tree.root:
                        raise ArchiveError(
                            "archive member %s is a symlink that resolves outside the release once "
                            "all members are in place" % _shown(member)
                        ) from None
                    raise ArchiveError(
                        "archive member %s is a symlink to %s, which leads out of the shared path %s "
                        "once that path is linked to %s: a link may lead into a shared path, never out of it"
                        % (_shown(member), _shown(links[rel].target or ""), _shown(outside.root.name),
                           shared[outside.root.name][0])
                    ) from None
        finally:
            tree.close()

    def finish(self, shared_links: Optional[Callable[[], SharedLinks]] = None) -> None:
        self._close_chain(0)
        self._judge({})
        shared: SharedLinks = {}
        if shared_links is not None:
            shared = shared_links() or {}
            self._judge(shared)
        _apply_modes(self.root_fd, "", self.dir_modes)
        for rel, (path, seeded) in shared.items():
            if seeded and any(key == rel or key.startswith(rel + "/") for key in self.dir_modes):
                fd = os.open(path, _DIR_FLAGS)
                try:
                    _apply_modes(fd, rel, self.dir_modes)
                finally:
                    os.close(fd)


def _extract_tar(handle: IO[bytes], ext: _Extractor) -> None:
    with _open_tar(handle) as archive:
        for member in _tar_members(archive):
            ext.count_member(member.name, member.size if member.isreg() else 0)
            if member.isdev():
                raise ArchiveError(
                    "archive member %s is a device or fifo: expected files, directories and links"
                    % _shown(member.name)
                )
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                raise ArchiveError(
                    "archive member %s has unsupported tar type %r" % (_shown(member.name), member.type)
                )
            if getattr(member, "sparse", None) is not None:
                raise _sparse(member.name)
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
                    "archive member %s is a device, fifo or socket: expected files, "
                    "directories and links" % _shown(info.filename)
                )
            rel = ext.target(info.filename)
            if rel is None:
                continue
            if info.is_dir() or file_type == stat.S_IFDIR:
                ext.directory(info.filename, rel, mode)
            elif file_type == stat.S_IFLNK:
                with archive.open(info) as data:
                    # one byte more than a target may have, so a longer one is refused, not cut
                    link_target = data.read(PATH_MAX).decode("utf-8", "surrogateescape")
                ext.symlink(info.filename, rel, link_target)
            else:
                with archive.open(info) as data:
                    ext.regular(info.filename, rel, mode, data)


def _extract(handle: IO[bytes], name: str, ext: _Extractor, shared_links: Optional[Callable[[], SharedLinks]]) -> None:
    extract = _extract_zip if _format_of(handle, name) == "zip" else _extract_tar
    try:
        extract(handle, ext)
    except _CORRUPT_ERRORS as exc:
        raise ArchiveError("cannot read archive %s: %s" % (name, exc)) from exc
    ext.finish(shared_links)


def extract_archive(
    src: Source,
    dest: str,
    max_size: int = DEFAULT_MAX_SIZE,
    max_members: int = DEFAULT_MAX_MEMBERS,
    strip_components: int = 0,
    name: Optional[str] = None,
    shared_links: Optional[Callable[[], SharedLinks]] = None,
) -> Dict[str, int]:
    """Extract ``src`` into the existing directory ``dest``; return {members, bytes}.

    ``src`` is a path, opened once, or a seekable binary file read from its start (so the
    bytes extracted can be exactly the bytes a caller verified); ``name`` is what messages
    call it. ``max_members`` bounds the members and the directories made for their paths.

    ``shared_links``, when given, is called once every member is in place and the tree is judged:
    it replaces paths of ``dest`` by links to shared directories and returns them (``SharedLinks``).
    The tree is then judged again as it will be used: a link of the archive may lead into a shared
    directory, never out of it (each is a jail reached through its link), and links in a shared
    directory the release seeded must stay inside it. Directory modes are applied after that.

    On error ``dest`` may hold a partial extraction: the caller owns and removes it (and what
    ``shared_links`` made); nothing outside ``dest`` is changed. OSError (e.g. ENOSPC) propagates unchanged.
    """
    if strip_components < 0:
        raise ArchiveError("strip_components is %d: expected 0 or more" % strip_components)
    ext = _Extractor(dest, max_size, max_members, strip_components)
    try:
        if isinstance(src, str):
            with _open_source(src) as handle:
                _extract(handle, name or src, ext, shared_links)
        else:
            src.seek(0)
            _extract(src, name or "the archive", ext, shared_links)
    finally:
        ext.close()
    return {"members": ext.members, "bytes": ext.bytes}
