# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the links of an unpacked release lead: every link is followed one name at a time through
directory descriptors, the way the kernel resolves it, never through a path string.

A link that leads outside its jail (the release, or a shared directory reached through its link)
is reported as Outside; a lookup that fails for any reason but "no such entry" is Unjudgeable
(callers refuse: fail closed); the work is bounded (``MAX_JUDGE_STEPS``). Extraction turns each of
these into an ArchiveError naming the member.
"""

from __future__ import annotations

import collections
import os
import stat
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.nofollow import DIR_NOFOLLOW_FLAGS

# Links followed while judging where one link leads; more than the kernel's 40, so whatever
# the kernel can resolve is judged, and a longer chain (a loop) is refused.
MAX_LINK_HOPS = 64
# Names looked up and path components walked while judging one archive's links; far above what
# real archives need (with memoised links, a few per link), far below what takes minutes.
MAX_JUDGE_STEPS = 10 * 1000 * 1000
# Directory descriptors kept open between lookups while judging.
_FD_CACHE_SIZE = 32


def _target_parts(target: str) -> List[str]:
    return [part for part in target.split("/") if part not in ("", ".")]


# ---- judging where links lead ----------------------------------------------------------------------

DIR, LINK, OTHER, SHARED = "dir", "link", "other", "shared"
_BUSY = object()


class Node:
    """An entry of a tree being judged: a directory, a link, anything else, or a shared path's link.

    A node without a parent is the root of a jail (the release, or a shared directory): ``..``
    from it leads out of the jail.
    """

    __slots__ = ("name", "parent", "kind", "target", "children", "listed", "result", "jail")

    def __init__(self, name: str, parent: Optional["Node"], kind: str, target: Optional[str] = None):
        self.name = name
        self.parent = parent
        self.kind = kind
        self.target = target
        self.children: Dict[str, Optional[Node]] = {}
        self.listed = False  # every child is in ``children`` (absent ones are missing)
        self.result: Any = None  # a link's resolution, once known: memoised within one judgement
        self.jail: Optional[Node] = None  # a shared path's link: the shared directory it leads to

    def path(self) -> str:
        """Where the node is, for messages: its names from its jail's root (named for a shared path)."""
        names = []
        node: Optional[Node] = self
        while node is not None:
            if node.name:
                names.append(node.name)
            node = node.parent
        return "/".join(reversed(names)) or "."


class Outside(LastmileError):
    """A resolution that climbs out of the jail whose root node it carries."""

    def __init__(self, root: Node):
        super().__init__(root.name)
        self.root = root


class LinkLoop(LastmileError):
    """A chain of links longer than MAX_LINK_HOPS."""


class TooCostly(LastmileError):
    """The judgement took more than MAX_JUDGE_STEPS."""


class Unjudgeable(LastmileError):
    """A lookup failed for another reason than a missing entry: nothing is assumed about it."""

    def __init__(self, where: str, error: OSError):
        super().__init__(where)
        self.where = where
        self.reason = error.strerror or str(error)


class Budget:
    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def spend(self, steps: int = 1) -> None:
        self.used += steps
        if self.used > self.limit:
            raise TooCostly()


def _node_for(name: str, parent: Node, mode: int, dir_fd: int) -> Node:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            raise Unjudgeable(_join(parent.path(), name), exc) from None
        return Node(name, parent, LINK, target)
    return Node(name, parent, DIR if stat.S_ISDIR(mode) else OTHER)


def _join(path: str, name: str) -> str:
    return name if path == "." else path + "/" + name


class Tree:
    """Trees read through directory descriptors, one name at a time, for judging where links lead.

    Lookups are read lazily (``lstat`` relative to the parent's descriptor) and kept: a judgement
    sees the tree as it was when it looked. ``list_all`` reads whole trees at once.
    """

    def __init__(self, root_fd: int, budget: Budget):
        self.budget = budget
        self.root = Node("", None, DIR)
        self._root_fds: Dict[Node, int] = {self.root: root_fd}
        self._owned: List[int] = []
        self._fds: "collections.OrderedDict[Node, int]" = collections.OrderedDict()

    def close(self) -> None:
        for fd in list(self._fds.values()) + self._owned:
            os.close(fd)
        self._fds.clear()
        del self._owned[:]

    def add_jail(self, name: str, path: str) -> Node:
        """The root of the jail at ``path`` (a shared directory, or file), reached however ``path`` leads."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except NotADirectoryError:
            return Node(name, None, OTHER)
        except OSError as exc:
            raise Unjudgeable(path, exc) from None
        self._owned.append(fd)
        node = Node(name, None, DIR)
        self._root_fds[node] = fd
        return node

    def fd(self, node: Node) -> int:
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
                fd = os.open(child.name, DIR_NOFOLLOW_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise Unjudgeable(child.path(), exc) from None
            self._fds[child] = fd
            if len(self._fds) > _FD_CACHE_SIZE:
                os.close(self._fds.popitem(last=False)[1])
        return fd

    def child(self, node: Node, name: str) -> Optional[Node]:
        """The entry ``name`` of the directory ``node``, None when there is none (or ``node`` is no directory)."""
        if node.kind != DIR:
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
            raise Unjudgeable(_join(node.path(), name), exc) from None
        else:
            found = _node_for(name, node, st.st_mode, fd)
        node.children[name] = found
        return found

    def list_all(self, top: Node, prefix: str, links: Dict[str, Node]) -> None:
        """Read every directory under ``top`` (a jail root), adding each link to ``links`` by its path
        (``prefix`` and its path under ``top``); one descriptor per level, no recursion."""
        fd = self.fd(top)
        stack: List[Tuple[Node, int, str, List[Node]]] = [(top, fd, prefix, [])]
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
                    child_fd = os.open(child.name, DIR_NOFOLLOW_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise Unjudgeable(child.path(), exc) from None
                child_rel = _join(rel or ".", child.name)
                stack.append((child, child_fd, child_rel, []))
                stack[-1] = (child, child_fd, child_rel, self._list(child, child_fd, child_rel, links))
        finally:
            for node, fd, _rel, _subdirs in stack:
                if node is not top:
                    os.close(fd)

    def _list(self, node: Node, fd: int, rel: str, links: Dict[str, Node]) -> List[Node]:
        subdirs = []
        name = None
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_symlink():
                        child = Node(name, node, LINK, os.readlink(name, dir_fd=fd))
                        links[_join(rel or ".", name)] = child
                    elif entry.is_dir(follow_symlinks=False):
                        child = Node(name, node, DIR)
                        subdirs.append(child)
                    else:
                        child = Node(name, node, OTHER)
                    node.children[name] = child
        except OSError as exc:
            raise Unjudgeable(node.path() if name is None else _join(node.path(), name), exc) from None
        node.listed = True
        return subdirs

    def resolve(self, start: Node, target: str, depth: int = 0) -> Tuple[Node, Tuple[str, ...], int]:
        """Where ``target``, read in the directory ``start``, leads: (the deepest entry that exists,
        the names below it that do not, links followed).

        Follows links as the kernel would, each one once per judgement (memoised); a name that does
        not exist is taken as written, so ``missing/..`` stays where it started. Raises Outside when
        it climbs out of its jail (an absolute target does), LinkLoop past MAX_LINK_HOPS.
        """
        if target.startswith("/"):
            raise Outside(_jail_of(start))
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
                    raise Outside(node)
                else:
                    node = node.parent
                continue
            if virtual:
                virtual.append(part)
                continue
            child = self.child(node, part)
            if child is None:
                virtual.append(part)
            elif child.kind == LINK:
                node, rest, followed = self.follow(child, depth + hops + 1)
                hops += followed + 1
                if depth + hops > MAX_LINK_HOPS:
                    raise LinkLoop()
                spend(len(rest))
                virtual = list(rest)
            elif child.kind == SHARED:
                node = child.jail  # type: ignore[assignment]
            else:
                node = child
        return node, tuple(virtual), hops

    def follow(self, link: Node, depth: int = 0) -> Tuple[Node, Tuple[str, ...], int]:
        """``resolve`` of the link's target in its own directory, computed once."""
        if depth > MAX_LINK_HOPS or link.result is _BUSY:
            raise LinkLoop()
        if isinstance(link.result, Outside):
            raise link.result
        if link.result is None:
            link.result = _BUSY
            try:
                link.result = self.resolve(link.parent, link.target, depth)  # type: ignore[arg-type]
            except Outside as outside:
                link.result = outside
                raise
            except BaseException:
                link.result = None
                raise
        return link.result  # type: ignore[no-any-return]

    def node_at(self, parts: List[str]) -> Node:
        """The node of the directory ``parts`` under the root (a real directory, as extraction made it)."""
        node = self.root
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = Node(part, node, DIR)
                node.children[part] = child
            node = child
        return node


def _jail_of(node: Node) -> Node:
    while node.parent is not None:
        node = node.parent
    return node
