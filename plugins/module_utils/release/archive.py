# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction of a release archive into an empty directory.

Members are read and checked by archive_members; nothing is ever written through a link: members
are created relative to directory descriptors opened without following links, so every directory on
a member's path is a real directory inside the destination, and a running budget of entries and
uncompressed bytes stops decompression bombs while they are being read.

Once all members are in place the resulting tree itself is judged (archive_links): a link anywhere
in it that leads outside the destination refuses the archive, before any directory mode is applied.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.nofollow import DIR_NOFOLLOW_FLAGS, NEW_FILE_FLAGS, apply_dir_modes
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_links import (
    DIR,
    MAX_JUDGE_STEPS,
    MAX_LINK_HOPS,
    OTHER,
    SHARED,
    Budget,
    LinkLoop,
    Node,
    Outside,
    TooCostly,
    Tree,
    Unjudgeable,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import (
    CHUNK_SIZE,
    CORRUPT_ERRORS,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_SIZE,
    PATH_MAX,
    ArchiveError,
    Source,
    format_of,
    member_path,
    open_source,
    open_tar,
    path_problem,
    shown,
    sparse_refused,
    tar_members,
)

# Permission bits kept from the archive: no setuid/setgid, no sticky bit, nothing writable by others.
MODE_MASK = 0o7777 & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWOTH)
# {path in the destination: (the shared directory the link there leads to, whether the release seeded it)}
SharedLinks = Dict[str, Tuple[str, bool]]


class _Extractor:
    """Writes checked members under ``dest``; tracks the entry and byte budget.

    Paths handed to the write methods are relative (as ``member_path`` returns them) and are
    only ever reached by walking from the destination's descriptor, one real directory at a time.
    """

    def __init__(self, dest: str, max_size: int, max_members: int, strip_components: int):
        self.root_fd = os.open(dest, DIR_NOFOLLOW_FLAGS)
        self.max_size = max_size
        self.max_members = max_members
        self.strip_components = strip_components
        self.members = 0
        self.made_dirs = 0  # directories made for members' paths, counted with the members
        self.bytes = 0
        self.budget = Budget(MAX_JUDGE_STEPS)
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
            "possible decompression bomb" % (self.max_members, counting, shown(name))
        )

    def _too_big(self, name: str) -> None:
        raise ArchiveError(
            "archive unpacks to more than %d bytes (reached at member %s): refusing it as a "
            "possible decompression bomb" % (self.max_size, shown(name))
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
                "on its path" % (shown(name), shown("/".join(walked)))
            )
        return ArchiveError(
            "archive member %s needs %s to be a directory, but an earlier member made it a file"
            % (shown(name), shown("/".join(walked)))
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
                following = os.open(part, DIR_NOFOLLOW_FLAGS, dir_fd=current)
            except FileNotFoundError:
                self.made_dirs += 1
                self._check_entries(name)
                os.mkdir(part, 0o755, dir_fd=current)
                following = os.open(part, DIR_NOFOLLOW_FLAGS, dir_fd=current)
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
                % shown(name)
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
        except LinkLoop:
            raise ArchiveError(
                "archive member %s %s, which never resolves: a loop of links (or a chain of more than %d)"
                % (shown(member), described, MAX_LINK_HOPS)
            ) from None
        except TooCostly:
            raise ArchiveError(
                "archive is too costly to judge: where its links lead took more than %d lookups to find "
                "(stopped at member %s); refusing it" % (MAX_JUDGE_STEPS, shown(member))
            ) from None
        except Unjudgeable as failed:
            if member is None:
                raise ArchiveError(
                    "cannot read the unpacked archive at %s: %s; refusing it" % (shown(failed.where), failed.reason)
                ) from None
            raise ArchiveError(
                "cannot judge where archive member %s leads: %s at %s; refusing it"
                % (shown(member), failed.reason, shown(failed.where))
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
        fd = os.open(leaf, NEW_FILE_FLAGS, 0o600, dir_fd=parent_fd)
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
                % (shown(name), shown(link_target))
            )
        problem = path_problem(link_target)
        if problem:
            raise ArchiveError("archive member %s is a symlink to %s, which %s" % (shown(name), shown(link_target), problem))
        parent_fd, leaf = self._parent(name, rel)
        # Refused early when it already leads outside; where it leads in the end is judged in finish().
        tree = Tree(self.root_fd, self.budget)
        try:
            self._judging(name, "is a symlink to %s" % shown(link_target),
                          lambda: tree.resolve(tree.node_at(rel.split("/")[:-1]), link_target))
        except Outside:
            raise ArchiveError(
                "archive member %s is a symlink to %s, which resolves outside the release"
                % (shown(name), shown(link_target))
            ) from None
        finally:
            tree.close()
        self._clear(name, rel, parent_fd, leaf, is_dir=False)
        os.symlink(link_target, leaf, dir_fd=parent_fd)
        self.link_members[rel] = name

    def hardlink(self, name: str, rel: str, link_name: str) -> None:
        refused = ArchiveError(
            "archive member %s is a hardlink to %s: expected an earlier regular file "
            "inside the release" % (shown(name), shown(link_name))
        )
        try:
            source_rel = member_path(link_name, self.strip_components)
        except ArchiveError:
            source_rel = None
        if not source_rel:
            raise refused
        described = "is a hardlink to %s" % shown(link_name)
        tree = Tree(self.root_fd, self.budget)
        try:
            try:
                source, rest, _hops = self._judging(name, described, lambda: tree.resolve(tree.root, source_rel))
            except Outside:
                raise refused from None
            if rest or source.kind != OTHER:
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
        tree = Tree(self.root_fd, self.budget)
        try:
            links: Dict[str, Node] = {}
            self._judging(None, "", lambda: tree.list_all(tree.root, "", links))
            for rel, (path, seeded) in shared.items():
                made = links.pop(rel, None)
                if made is None:
                    raise ArchiveError("shared path %s is not the link made for it in the release" % shown(rel))
                jail = self._judging(None, "", lambda: tree.add_jail(rel, path))
                made.kind, made.jail = SHARED, jail
                if seeded and jail.kind == DIR:
                    self._judging(None, "", lambda: tree.list_all(jail, rel, links))
            ordered = [rel for rel in self.link_members if rel in links]
            ordered += [rel for rel in links if rel not in self.link_members]
            for rel in ordered:
                member = self.link_members.get(rel, rel)
                try:
                    self._judging(member, "is a symlink to %s" % shown(links[rel].target or ""),
                                  lambda: tree.follow(links[rel]))
                except Outside as outside:
                    if outside.root is tree.root:
                        raise ArchiveError(
                            "archive member %s is a symlink that resolves outside the release once "
                            "all members are in place" % shown(member)
                        ) from None
                    raise ArchiveError(
                        "archive member %s is a symlink to %s, which leads out of the shared path %s "
                        "once that path is linked to %s: a link may lead into a shared path, never out of it"
                        % (shown(member), shown(links[rel].target or ""), shown(outside.root.name),
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
        apply_dir_modes(self.root_fd, "", self.dir_modes)
        for rel, (path, seeded) in shared.items():
            if seeded and any(key == rel or key.startswith(rel + "/") for key in self.dir_modes):
                fd = os.open(path, DIR_NOFOLLOW_FLAGS)
                try:
                    apply_dir_modes(fd, rel, self.dir_modes)
                finally:
                    os.close(fd)


def _extract_tar(handle: IO[bytes], ext: _Extractor) -> None:
    with open_tar(handle) as archive:
        for member in tar_members(archive):
            ext.count_member(member.name, member.size if member.isreg() else 0)
            if member.isdev():
                raise ArchiveError(
                    "archive member %s is a device or fifo: expected files, directories and links"
                    % shown(member.name)
                )
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                raise ArchiveError(
                    "archive member %s has unsupported tar type %r" % (shown(member.name), member.type)
                )
            if getattr(member, "sparse", None) is not None:
                raise sparse_refused(member.name)
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
                    "directories and links" % shown(info.filename)
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
    extract = _extract_zip if format_of(handle, name) == "zip" else _extract_tar
    try:
        extract(handle, ext)
    except CORRUPT_ERRORS as exc:
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
            with open_source(src) as handle:
                _extract(handle, name or src, ext, shared_links)
        else:
            src.seek(0)
            _extract(src, name or "the archive", ext, shared_links)
    finally:
        ext.close()
    return {"members": ext.members, "bytes": ext.bytes}
