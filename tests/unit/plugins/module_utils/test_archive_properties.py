# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property of safe extraction: whatever the archive, nothing outside the destination changes.

Archives are generated from a few short names, so that members land under links made earlier,
links are re-pointed later in the same archive, and link targets climb with ``..`` onto a
sentinel tree beside the destination whose entries have the same names (directories with
distinct modes, files, links). Either the archive is refused, or every link in the result leads
inside the destination; in both cases every sentinel path's lstat is as it was.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import warnings
import zipfile

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive import extract_archive
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import ArchiveError
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError, ReleaseRoot

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

NAMES = ("a", "b", "s")
DIR_MODES = (0o777, 0o755, 0o705, 0o500)
# The destination is <sandbox>/top/box/inner/dest, with sentinels at each level above it; a chain
# of links can climb further, which the check of every link in a result catches.
MAX_TARGET_PARTS = 4

names = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
targets = st.lists(st.sampled_from(NAMES + (".", "..")), min_size=1, max_size=MAX_TARGET_PARTS).map("/".join)
MEMBER_KINDS = ("dir", "dir", "sym", "sym", "sym", "file", "hard")


@st.composite
def archives(draw):
    """(tar or zip, [(kind, name, mode or link target)]): names are often under a link made
    earlier or re-point one, and targets often climb out of a link made earlier."""
    kind = draw(st.sampled_from(("tar", "zip")))
    entries, link_names = [], []
    for _index in range(draw(st.integers(1, 12))):
        how = draw(st.sampled_from(("fresh", "under a link", "re-point")))
        member_kind = "sym" if how == "re-point" and link_names else draw(st.sampled_from(MEMBER_KINDS))
        if how == "fresh" or not link_names:
            name = draw(names)
        elif how == "re-point":
            name = draw(st.sampled_from(link_names))
        else:
            name = draw(st.sampled_from(link_names)) + "/" + draw(names)
        if member_kind == "dir":
            value = draw(st.sampled_from(DIR_MODES))
        elif member_kind == "file":
            value = draw(st.sampled_from((0o644, 0o4755)))
        elif member_kind == "hard":
            value = draw(names)
        else:
            climbs = st.builds(lambda base, ups: "/".join([base] + [".."] * ups),
                               st.sampled_from(list(NAMES) + link_names), st.integers(1, 3))
            value = draw(st.one_of(targets, climbs))
            link_names.append(name)
        entries.append((member_kind, name, value))
    return kind, entries


# The alias attack: a link made through an alias while it leads inside, a directory put through
# it, then the links it depends on re-pointed so it leads above the destination.
ALIAS_ATTACK = ("tar", [
    ("dir", "a", 0o755), ("dir", "a/b/s", 0o755), ("sym", "s", "a"), ("sym", "a/b/b", "s"),
    ("sym", "s/b/a", "b/../.."), ("dir", "a/b/a/b", 0o777), ("sym", "a/b/b", "../.."), ("sym", "s", "a/b"),
])
# The same in five members: ``a/s`` leads one level above the destination in the end.
SHORT_ALIAS_ATTACK = ("zip", [
    ("dir", "a", 0o755), ("sym", "s", "a"), ("sym", "s/s", "b/.."), ("sym", "a/b", ".."), ("sym", "s", "."),
])


TAR_TYPES = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}
REASONS = ("would be written through a link", "resolves outside the release once all members",
           "which resolves outside", "never resolves", "is a hardlink", "needs", "conflicts")


def build(kind, entries):
    """The archive's bytes: tar members in order; for zip, hardlinks are left out (zip has none)."""
    raw = io.BytesIO()
    if kind == "tar":
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for member_kind, name, value in entries:
                info = tarfile.TarInfo(name)
                if member_kind == "file":
                    data = ("content of %s" % name).encode()
                    info.size, info.mode = len(data), value
                    tar.addfile(info, io.BytesIO(data))
                    continue
                info.type = TAR_TYPES[member_kind]
                info.mode = value if member_kind == "dir" else 0o777
                info.linkname = "" if member_kind == "dir" else value
                tar.addfile(info)
        return raw.getvalue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the same name twice
        with zipfile.ZipFile(raw, "w") as archive:
            for member_kind, name, value in entries:
                if member_kind == "hard":
                    continue
                info = zipfile.ZipInfo(name + "/" if member_kind == "dir" else name)
                info.create_system = 3
                file_type = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "sym": stat.S_IFLNK}[member_kind]
                mode = value if member_kind in ("dir", "file") else 0o777
                info.external_attr = (file_type | mode) << 16
                data = value.encode() if member_kind == "sym" else ("content of %s" % name).encode()
                archive.writestr(info, b"" if member_kind == "dir" else data)
    return raw.getvalue()


def plant_sentinels(top):
    """At every level from ``top`` down to the destination's parent: the names the archives use,
    as a directory (with a file and a subdirectory), a file and a link, each with its own mode."""
    level = top
    for depth, child in enumerate(("box", "inner", None)):
        os.makedirs(level, exist_ok=True)
        kinds = ("dir", "file", "link")
        for index, name in enumerate(NAMES):
            path = os.path.join(level, name)
            kind = kinds[(index + depth) % 3]
            if kind == "dir":
                os.mkdir(path)
                with open(os.path.join(path, "f"), "w") as handle:
                    handle.write("sentinel")
                os.mkdir(os.path.join(path, "b"))
                os.chmod(os.path.join(path, "b"), 0o710)
                os.chmod(path, 0o701 + 0o10 * depth)
            elif kind == "file":
                with open(path, "w") as handle:
                    handle.write("sentinel file at depth %d" % depth)
                os.chmod(path, 0o604)
            else:
                os.symlink(".", path)
        if child is not None:
            level = os.path.join(level, child)
    return level


def lstat_all(top, skip):
    """{path: (type and mode, size, mtime_ns, link target)} of ``top`` and all below it but ``skip``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skip]
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st_ = os.lstat(path)
            found[path] = (st_.st_mode, st_.st_size, st_.st_mtime_ns,
                           os.readlink(path) if stat.S_ISLNK(st_.st_mode) else None)
    return found


def links_under(dest):
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                yield path


@PROPERTY_SETTINGS
@given(archives())
@example(ALIAS_ATTACK)
@example(("zip", ALIAS_ATTACK[1]))
@example(SHORT_ALIAS_ATTACK)
def test_nothing_outside_the_destination_changes(archive):
    kind, entries = archive
    with tempfile.TemporaryDirectory() as sandbox:
        top = os.path.join(sandbox, "top")
        parent = plant_sentinels(top)
        dest = os.path.join(parent, "dest")
        os.mkdir(dest)
        src = os.path.join(sandbox, "archive." + kind)
        with open(src, "wb") as handle:
            handle.write(build(kind, entries))
        before = lstat_all(sandbox, skip=dest)
        try:
            extract_archive(src, dest)
        except ArchiveError as exc:
            event("refused: " + next((why for why in REASONS if why in str(exc)), str(exc)))
        else:
            event("extracted")
            real_dest = os.path.realpath(dest)
            for link in links_under(dest):
                resolved = os.path.realpath(link)
                assert resolved == real_dest or resolved.startswith(real_dest + os.sep), (
                    "%s -> %s leads to %s" % (link, os.readlink(link), resolved))
        assert lstat_all(sandbox, skip=dest) == before


# A shipped ``s`` leads deep inside; ``b`` climbs out of it back to the release. Once ``s`` is a shared
# path, link_shared re-points it to <root>/shared/s, from where ``b`` climbs to <root>'s parent.
SHARED_RELINK_ATTACK = ("tar", [("dir", "a/a/a", 0o755), ("sym", "s", "a/a/a"), ("sym", "b", "s/../../../a")])


def inside(path, directories):
    return any(path == top or path.startswith(top + os.sep) for top in directories)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(archives(), st.sampled_from(NAMES), st.booleans())
@example(SHARED_RELINK_ATTACK, "s", False)
@example(SHARED_RELINK_ATTACK, "s", True)
def test_with_a_shared_path_links_lead_only_into_the_release_or_the_shared_directory(archive, shared_path, shared_exists):
    """Released through ReleaseRoot.unpack with ``shared_paths``: either refused, or every link of the release
    (and of what it seeded into the shared directory) leads into the release or the shared directory."""
    kind, entries = archive
    with tempfile.TemporaryDirectory() as sandbox:
        root = os.path.join(plant_sentinels(os.path.join(sandbox, "top")), "root")
        shared = os.path.join(root, "shared", shared_path)
        os.mkdir(root)  # made beforehand: what a refused unpack makes in it is undone, root itself stays
        if shared_exists:
            os.makedirs(os.path.join(shared, "kept"))
        src = os.path.join(sandbox, "archive." + kind)
        with open(src, "wb") as handle:
            handle.write(build(kind, entries))
        before = lstat_all(sandbox, skip=root)
        try:
            ReleaseRoot(root).unpack("1.0", src, shared_paths=[shared_path])
        except ReleaseError as exc:
            event("refused: " + next((why for why in REASONS + ("out of the shared path",) if why in str(exc)), str(exc)))
        else:
            event("extracted")
            release = os.path.join(root, "releases", "1.0")
            allowed = [os.path.realpath(release), os.path.realpath(shared)]
            for link in list(links_under(release)) + list(links_under(shared)):
                resolved = os.path.realpath(link)
                assert inside(resolved, allowed), "%s -> %s leads to %s" % (link, os.readlink(link), resolved)
        assert lstat_all(sandbox, skip=root) == before
