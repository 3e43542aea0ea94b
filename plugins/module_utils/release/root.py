# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release directories on a host: unpack, share, switch ``current``, record, prune.

Layout under a deploy root::

    releases/<version>/     unpacked release, never modified once in place
    shared/<path>           shared paths, linked into every release
    current                 relative symlink to releases/<version>, switched atomically
    .lastmile/state.json    release history (see _release_history)

``ReleaseRoot`` loads the layout once and applies changes to disk and to its in-memory
view, or only to the view in check mode, so a module can report the state after a change
that was not made. The module-level functions are one-shot shortcuts over it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive import extract_archive
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_SIZE,
    ArchiveError,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.checksum import (
    ChecksumError,
    parse_checksum,
    stream_digests,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    STATUSES,
    HistoryError,
    latest_status,
    load_history,
    pending_versions,
    rollback_target,
    save_history,
    state_path,
    with_status,
    with_switch,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.fs import (
    FsError,
    link_shared,
    make_dirs,
    normalise_shared_path,
    read_marker,
    remove_tree,
    temp_name,
    undo_created,
    write_marker,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.version import (
    VersionError,
    is_valid_version,
    validate_version,
)

RELEASES_DIR = "releases"
CURRENT_LINK = "current"
# Entries an interrupted unpack, replacement or removal leaves in releases/ (see temp_name).
_LEFTOVER = re.compile(r"^\.(?:tmp|old|rm)-(?P<version>.+)-[0-9a-f]{8}$")


class ReleaseError(LastmileError):
    """A release operation cannot be done as asked."""


class SwitchNotRecorded(ReleaseError):
    """``current`` was switched, but the history could not be written: the switch happened on disk
    (the failed result says so: ``changed`` and the new ``current``)."""


@contextlib.contextmanager
def _os_errors(action: str) -> Iterator[None]:
    """Turn OSError (and history errors) into ReleaseError naming what was being done."""
    try:
        yield
    except HistoryError as exc:
        raise ReleaseError(str(exc)) from exc
    except OSError as exc:
        where = " (%s)" % exc.filename if exc.filename else ""
        raise ReleaseError("cannot %s%s: %s" % (action, where, exc.strerror or exc)) from exc


def _checked(version: str) -> str:
    try:
        return validate_version(version)
    except VersionError as exc:
        raise ReleaseError(str(exc)) from exc


def _open_archive(src: str) -> IO[bytes]:
    """``src`` opened for reading, refused unless it is a regular file."""
    not_a_file = ReleaseError(
        "src %s is not a file on the managed host: copy the archive there first" % src
    )
    try:
        # O_NONBLOCK: a fifo put at that path must not hang the run
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise not_a_file from None
    except OSError as exc:
        raise ReleaseError("cannot read %s: %s" % (src, exc.strerror or exc)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise not_a_file
    return os.fdopen(fd, "rb")


def _verified_digest(handle: IO[bytes], src: str, expected: Optional[str], copy_to: Optional[IO[bytes]] = None) -> str:
    """``sha256:<hex>`` of what is read from ``handle`` (and copied to ``copy_to``), checked against ``expected``."""
    try:
        algorithm, wanted = parse_checksum(expected) if expected else ("sha256", None)
        digests = stream_digests(handle, {"sha256", algorithm}, src, copy_to=copy_to)
    except ChecksumError as exc:
        raise ReleaseError(str(exc)) from exc
    if wanted is not None and digests[algorithm] != wanted:
        raise ReleaseError(
            "checksum mismatch for %s: expected %s:%s, got %s:%s"
            % (src, algorithm, wanted, algorithm, digests[algorithm])
        )
    return "sha256:" + digests["sha256"]


def archive_checksum(src: str, expected: Optional[str] = None) -> str:
    """``sha256:<hex>`` of the archive, after checking it against ``expected`` if given."""
    with _open_archive(src) as handle:
        return _verified_digest(handle, src, expected)


def _lock_releases(releases_dir: str, exclusive: bool) -> Optional[int]:
    """An flock on ``releases/``, or None when an exclusive one is not to be had right now.

    A run holds it shared while entries of its own (``.tmp-``, ``.old-``) may be in
    releases/; pruning takes it exclusive without waiting, so it never sees a live entry.
    The lock goes with the process: a killed run's leftovers are free to remove.
    """
    fd = os.open(releases_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
    except OSError:
        # Held by someone else, or no flock on this filesystem: then a shared lock goes on
        # without it, and nothing is taken for a leftover.
        if exclusive:
            os.close(fd)
            return None
    return fd


class ReleaseRoot:
    """The release layout under one deploy root."""

    def __init__(self, root: str, check_mode: bool = False):
        self.root = os.path.abspath(root)
        self.check_mode = check_mode
        self.releases_dir = os.path.join(self.root, RELEASES_DIR)
        with _os_errors("read the releases in %s" % self.root):
            self.current = self._read_current()
            self.releases = self._scan_releases()
            self.history = load_history(self.root)
        self._planned_checksums: Dict[str, str] = {}
        self.removed_leftovers: List[str] = []

    def path(self, version: str) -> str:
        return os.path.join(self.releases_dir, _checked(version))

    def _read_current(self) -> Optional[str]:
        link = os.path.join(self.root, CURRENT_LINK)
        if not os.path.lexists(link):
            return None
        if not os.path.islink(link):
            raise ReleaseError(
                "%s exists and is not a symlink: expected a link to releases/<version>" % link
            )
        target = os.path.normpath(os.path.join(self.root, os.readlink(link)))
        parent = os.path.realpath(os.path.dirname(target))
        if parent != os.path.realpath(self.releases_dir):
            return None
        return os.path.basename(target)

    def _scan_releases(self) -> List[str]:
        try:
            names = os.listdir(self.releases_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            path = os.path.join(self.releases_dir, name)
            if name.startswith(".") or os.path.islink(path) or not os.path.isdir(path):
                continue
            try:
                validate_version(name)
            except VersionError:
                continue
            marker = read_marker(path) or {}
            found.append((str(marker.get("unpacked_at") or ""), name))
        return [name for _unpacked_at, name in sorted(found)]

    @property
    def previous(self) -> Optional[str]:
        """Rollback target: see ``rollback_target`` for the exact rule."""
        return rollback_target(self.history, self.current, self.releases)

    def status(self, version: Optional[str]) -> Optional[str]:
        """Status of the newest history entry of ``version``, None if it has none."""
        return latest_status(self.history, version)

    def checksum(self, version: str) -> Optional[str]:
        if version in self._planned_checksums:
            return self._planned_checksums[version]
        if version not in self.releases:
            return None
        return (read_marker(self.path(version)) or {}).get("checksum")

    def summary(self) -> Dict[str, Any]:
        return {
            "current": self.current,
            "previous": self.previous,
            "releases": list(self.releases),
            "history": [dict(entry) for entry in self.history],
            "current_status": self.status(self.current),
            "checksums": {version: self.checksum(version) for version in self.releases},
        }

    def unpack(
        self,
        version: str,
        src: Optional[str] = None,
        checksum: Optional[str] = None,
        shared_paths: Iterable[str] = (),
        strip_components: int = 0,
        force: bool = False,
        max_size: int = DEFAULT_MAX_SIZE,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> Dict[str, Any]:
        """Put ``releases/<version>`` in place from ``src``; a no-op when it is already there.

        An existing release with another archive checksum is an error (release ids are
        immutable) unless ``force``, which replaces it atomically, but never the current one.
        The archive is read once into a private temporary file while it is hashed, and that
        file is what is unpacked: the bytes unpacked are the bytes verified.
        """
        version = _checked(version)
        try:
            shared = [normalise_shared_path(path) for path in shared_paths]
        except FsError as exc:
            raise ReleaseError(str(exc)) from exc
        present = version in self.releases
        before = {"release": "present" if present else "absent", "checksum": self.checksum(version)}
        if src is None:
            if not present and self.check_mode:
                # A check run never unpacks, so a release staged earlier in the same run is not
                # there yet: assume it would be, and report the change.
                self.releases.append(version)
                return {"changed": True, "before": before, "after": {"release": "present", "checksum": None}}
            if not present:
                raise ReleaseError(
                    "release %r is not in %s and no src was given to unpack it from"
                    % (version, self.releases_dir)
                )
            return {"changed": False, "before": before, "after": before}
        digest = None
        if present or self.check_mode:
            # read once to decide; what is unpacked is read again below, into a private copy
            digest = archive_checksum(src, checksum)
        if present:
            if digest == before["checksum"]:
                return {"changed": False, "before": before, "after": before}
            if not force:
                raise ReleaseError(
                    "release %r already exists with checksum %s but %s has checksum %s: release "
                    "ids are immutable, use a new version (or force to replace it)"
                    % (version, before["checksum"], src, digest)
                )
            if version == self.current:
                raise ReleaseError(
                    "refusing to force-replace release %r: it is the current release" % version
                )
        if not self.check_mode:
            digest = self._extract(version, src, checksum, digest, shared, strip_components, max_size, max_members)
        if not present:
            self.releases.append(version)
        self._planned_checksums[version] = digest
        return {"changed": True, "before": before, "after": {"release": "present", "checksum": digest}}

    def _extract(self, version, src, checksum, digest, shared, strip_components, max_size, max_members) -> str:
        """Unpack a private copy of ``src`` into ``releases/<version>``; return the copy's checksum.

        ``digest``: the checksum the caller decided on, which the copy must have too.
        """
        final = self.path(version)
        created: List[str] = []
        tmp = None
        copy = None
        lock = None
        with _open_archive(src) as source:
            try:
                make_dirs(self.releases_dir, created)
                lock = _lock_releases(self.releases_dir, exclusive=False)
                copy, digest = self._private_copy(source, src, checksum, digest)
                tmp = temp_name(self.releases_dir, ".tmp-%s-" % version)
                os.mkdir(tmp, 0o700)
                # shared paths are linked before the tree's final judgement, which sees it as it will be used
                extract_archive(
                    copy, tmp, max_size, max_members, strip_components, name=src,
                    shared_links=lambda: link_shared(os.path.join(self.root, "shared"), tmp, final, shared, created),
                )
                write_marker(tmp, version, digest)
                os.chmod(tmp, 0o755)
                if os.path.isdir(final):
                    aside = temp_name(self.releases_dir, ".old-%s-" % version)
                    os.rename(final, aside)
                    try:
                        os.rename(tmp, final)
                    except OSError:
                        os.rename(aside, final)
                        raise
                    remove_tree(aside)
                else:
                    os.rename(tmp, final)
                tmp = None
            except (ArchiveError, FsError) as exc:
                self._cleanup(tmp, created, copy)
                raise ReleaseError(str(exc)) from exc
            except ReleaseError:
                self._cleanup(tmp, created, copy)
                raise
            except OSError as exc:
                self._cleanup(tmp, created, copy)
                raise ReleaseError(
                    "cannot unpack %s into %s: %s%s" % (src, final, exc.strerror or exc, self._space_left(exc))
                ) from exc
            except BaseException:
                self._cleanup(tmp, created, copy)
                raise
            finally:
                if copy is not None:
                    copy.close()
                if lock is not None:
                    os.close(lock)
        return digest

    def _private_copy(self, source: IO[bytes], src: str, checksum: Optional[str], digest: Optional[str]) -> Tuple[IO[bytes], str]:
        """An anonymous file in releases/ holding what was read from ``source``, verified; and its checksum."""
        copy = tempfile.TemporaryFile(dir=self.releases_dir)
        try:
            copied = _verified_digest(source, src, checksum, copy_to=copy)
            copy.flush()
            if digest is not None and copied != digest:
                raise ReleaseError(
                    "%s changed while it was being read: it had checksum %s, then %s; nothing was unpacked"
                    % (src, digest, copied)
                )
        except BaseException:
            copy.close()
            raise
        return copy, copied

    def _space_left(self, exc: OSError) -> str:
        """For a full disk or quota: what is free where the release was to go, once cleaned up."""
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return ""
        for path in (self.releases_dir, self.root):
            try:
                fs = os.statvfs(path)
            except OSError:
                continue
            return " (%d bytes and %d inodes free in %s once the partial release was removed)" % (
                fs.f_bavail * fs.f_frsize, fs.f_favail, path)
        return ""

    @staticmethod
    def _cleanup(tmp: Optional[str], created: List[str], copy: Optional[IO[bytes]] = None) -> None:
        if copy is not None:
            copy.close()  # frees its space before what is left is reported
        if tmp is not None and os.path.lexists(tmp):
            remove_tree(tmp)
        undo_created(created)

    def switch_current(self, version: str, run: Optional[str] = None, restore: bool = False) -> Dict[str, Any]:
        """Point ``current`` at ``releases/<version>`` atomically; record a pending entry (see with_switch)."""
        version = _checked(version)
        before = {"current": self.current}
        if self.current == version:
            return {"changed": False, "before": before, "after": before}
        if version not in self.releases:
            raise ReleaseError(
                "release %r is not unpacked: expected a directory %s" % (version, self.path(version))
            )
        history = with_switch(self.history, version, run, restore)
        if not self.check_mode:
            with _os_errors("point current at release %r" % version):
                self._replace_link(version)
            # from here on current points at the release, whatever happens to the history
            self.current = version
            try:
                save_history(self.root, history)
            except (OSError, HistoryError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise SwitchNotRecorded(
                    "current now points at release %r (it was %r), but the switch could not be recorded in %s: %s"
                    % (version, before["current"], state_path(self.root), reason),
                    result=dict(changed=True, current=version),
                ) from exc
        self.current = version
        self.history = history
        return {"changed": True, "before": before, "after": {"current": version}}

    def _replace_link(self, version: str) -> None:
        """A new link next to ``current``, renamed over it: readers never see it missing."""
        link = os.path.join(self.root, CURRENT_LINK)
        tmp_link = temp_name(self.root, CURRENT_LINK + ".tmp-")
        os.symlink(os.path.join(RELEASES_DIR, version), tmp_link)
        try:
            os.replace(tmp_link, link)
        except OSError:
            os.unlink(tmp_link)
            raise

    def mark(self, version: str, status: str) -> Dict[str, Any]:
        """Set the status of the newest history entry of ``version``."""
        version = _checked(version)
        if status not in STATUSES:
            raise ReleaseError("status %r is not valid: expected one of %s" % (status, ", ".join(STATUSES)))
        if status == "succeeded" and version != self.current and not self.check_mode:
            # (a check run has not switched: the switch earlier in the same run only said it would)
            raise ReleaseError(
                "cannot record release %r as succeeded: the current release is %r, and only "
                "the current release can succeed" % (version, self.current)
            )
        before = {"status": self.status(version)}
        if before["status"] == status:
            return {"changed": False, "before": before, "after": before}
        history = with_status(self.history, version, status)
        if not self.check_mode:
            with _os_errors("record release %r as %s" % (version, status)):
                save_history(self.root, history)
        self.history = history
        return {"changed": True, "before": before, "after": {"status": status}}

    def remove(self, version: str) -> Dict[str, Any]:
        """Delete ``releases/<version>``; never the current release."""
        version = _checked(version)
        if version == self.current:
            raise ReleaseError("refusing to remove release %r: it is the current release" % version)
        if version not in self.releases:
            return {"changed": False, "before": {"release": "absent"}, "after": {"release": "absent"}}
        if not self.check_mode:
            # Renamed away first, so a half-deleted tree never shows under a release id; the shared
            # lock keeps a prune in another run from taking the .rm- entry for a leftover meanwhile.
            with _os_errors("remove release %r" % version):
                lock = _lock_releases(self.releases_dir, exclusive=False)
                try:
                    aside = temp_name(self.releases_dir, ".rm-%s-" % version)
                    os.rename(self.path(version), aside)
                    remove_tree(aside)
                finally:
                    os.close(lock)
        self.releases.remove(version)
        self._planned_checksums.pop(version, None)
        return {"changed": True, "before": {"release": "present"}, "after": {"release": "absent"}}

    def record(self, version: str, outcome: str, keep: int) -> Tuple[bool, List[str]]:
        """Mark ``version`` with ``outcome``; after ``succeeded`` prune to ``keep``. Returns (changed, removed)."""
        changed = self.mark(version, outcome)["changed"]
        removed = self.prune(keep) if outcome == "succeeded" else []
        return changed or bool(removed) or bool(self.removed_leftovers), removed

    def prune(self, keep: int) -> List[str]:
        """Remove the oldest releases beyond ``keep``; return the removed versions.

        Never removes the current release, the rollback target or a release with a
        pending history entry (those still count towards ``keep``). Releases that can never
        be rollback targets (recorded failed or rolled back) go first, oldest first, then the
        others, oldest first. ``keep=0`` disables.
        Whatever ``keep`` is, entries an interrupted run left in releases/ (``.tmp-<version>-*``,
        ``.old-<version>-*``, ``.rm-<version>-*``) are removed first, but only while no unpack
        of this root is under way (see ``_lock_releases``): a live run's entries are never taken.
        """
        if not isinstance(keep, int) or keep < 0:
            raise ReleaseError("keep_releases is %r: expected 0 (keep all) or more" % (keep,))
        if not self.check_mode:
            self.remove_leftovers()
        if keep == 0:
            return []
        protected = {self.current, self.previous} | set(pending_versions(self.history))
        excess = len(self.releases) - keep
        removed = []
        # sorted() is stable: the release order (oldest first) holds within each kind
        for version in sorted(self.releases, key=lambda version: self.status(version) not in ("failed", "rolled_back")):
            if excess <= 0:
                break
            if version in protected:
                continue
            self.remove(version)
            removed.append(version)
            excess -= 1
        return removed

    def remove_leftovers(self) -> List[str]:
        """Remove the entries interrupted runs left in releases/; return their names.

        Nothing is removed while another run of this root holds releases/ (an unpack under way).
        The names are added to ``removed_leftovers``.
        """
        try:
            lock = _lock_releases(self.releases_dir, exclusive=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ReleaseError("cannot read the releases in %s: %s" % (self.root, exc.strerror or exc)) from exc
        if lock is None:
            return []
        removed = []
        try:
            with _os_errors("remove what an interrupted run left in %s" % self.releases_dir):
                for name in sorted(os.listdir(self.releases_dir)):
                    match = _LEFTOVER.match(name)
                    if match is None or not is_valid_version(match.group("version")):
                        continue
                    remove_tree(os.path.join(self.releases_dir, name))
                    removed.append(name)
        finally:
            os.close(lock)
            self.removed_leftovers.extend(removed)
        return removed


def current_release(root: str) -> Optional[str]:
    """Version ``<root>/current`` points at, None if there is no such link."""
    return ReleaseRoot(root).current


def releases(root: str) -> List[str]:
    """Unpacked releases, oldest first (marker ``unpacked_at``, then name)."""
    return ReleaseRoot(root).releases


def previous_release(root: str) -> Optional[str]:
    """The rollback target of the host, see ``rollback_target``."""
    return ReleaseRoot(root).previous


def unpack(root: str, version: str, src: Optional[str] = None, check_mode: bool = False, **options: Any) -> Dict[str, Any]:
    """One-shot ``ReleaseRoot.unpack``."""
    return ReleaseRoot(root, check_mode).unpack(version, src, **options)


def switch_current(root: str, version: str, check_mode: bool = False, run: Optional[str] = None,
                   restore: bool = False) -> Dict[str, Any]:
    """One-shot ``ReleaseRoot.switch_current``."""
    return ReleaseRoot(root, check_mode).switch_current(version, run, restore)


def mark(root: str, version: str, status: str, check_mode: bool = False) -> Dict[str, Any]:
    """One-shot ``ReleaseRoot.mark``."""
    return ReleaseRoot(root, check_mode).mark(version, status)


def remove_release(root: str, version: str, check_mode: bool = False) -> Dict[str, Any]:
    """One-shot ``ReleaseRoot.remove``."""
    return ReleaseRoot(root, check_mode).remove(version)


def prune(root: str, keep: int, check_mode: bool = False) -> List[str]:
    """One-shot ``ReleaseRoot.prune``."""
    return ReleaseRoot(root, check_mode).prune(keep)
