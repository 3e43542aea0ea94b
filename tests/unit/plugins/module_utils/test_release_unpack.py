# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unpacking releases into <root>/releases: markers, immutability, shared paths, cleanup."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release import archive as _archive
from ansible_collections.lastmile.deploy.plugins.module_utils.release import root as _release
from ansible_collections.lastmile.deploy.plugins.module_utils.release.fs import MARKER_NAME, remove_tree
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import (
    ReleaseError,
    ReleaseRoot,
    current_release,
    releases,
    switch_current,
    unpack,
)


def make_tar(path, files, wrapper=None):
    """A .tar.gz of {name: bytes} (a name ending in / is a directory)."""
    with tarfile.open(str(path), "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("%s/%s" % (wrapper, name) if wrapper else name)
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def sha256(path):
    return "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()


def listing(path):
    return sorted(
        os.path.relpath(os.path.join(d, n), str(path)) for d, dirs, files in os.walk(str(path)) for n in dirs + files
    )


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "app")


@pytest.fixture
def v1(tmp_path):
    return make_tar(tmp_path / "v1.tar.gz", {"bin/app": b"one", "logs/": b"", "config.yml": b"a: 1\n"})


def test_unpack_puts_release_and_marker_in_place(root, v1):
    result = unpack(root, "1.0", v1)
    release = os.path.join(root, "releases", "1.0")
    assert result == {
        "changed": True,
        "before": {"release": "absent", "checksum": None},
        "after": {"release": "present", "checksum": sha256(v1)},
    }
    assert open(os.path.join(release, "bin", "app")).read() == "one"
    marker = json.load(open(os.path.join(release, MARKER_NAME)))
    assert marker["version"] == "1.0" and marker["checksum"] == sha256(v1)
    assert marker["unpacked_at"].endswith("Z")
    assert [n for n in os.listdir(os.path.join(root, "releases")) if n.startswith(".")] == []
    assert current_release(root) is None


def test_same_archive_again_is_a_noop(root, v1):
    unpack(root, "1.0", v1)
    before = listing(root)
    assert unpack(root, "1.0", v1)["changed"] is False
    assert unpack(root, "1.0")["changed"] is False  # no src: already there is enough
    assert listing(root) == before


def test_other_archive_for_existing_id_names_both_checksums(root, v1, tmp_path):
    other = make_tar(tmp_path / "other.tar.gz", {"bin/app": b"two"})
    unpack(root, "1.0", v1)
    with pytest.raises(ReleaseError) as err:
        unpack(root, "1.0", other)
    assert sha256(v1) in str(err.value) and sha256(other) in str(err.value)
    assert "immutable" in str(err.value)
    assert open(os.path.join(root, "releases", "1.0", "bin", "app")).read() == "one"


def test_force_replaces_a_release_but_never_the_current_one(root, v1, tmp_path):
    other = make_tar(tmp_path / "other.tar.gz", {"bin/app": b"two"})
    unpack(root, "1.0", v1)
    unpack(root, "2.0", v1)
    switch_current(root, "2.0")
    result = unpack(root, "1.0", other, force=True)
    assert result["changed"] and result["before"]["checksum"] == sha256(v1)
    assert open(os.path.join(root, "releases", "1.0", "bin", "app")).read() == "two"
    assert sorted(os.listdir(os.path.join(root, "releases"))) == ["1.0", "2.0"]
    with pytest.raises(ReleaseError, match="refusing to force-replace release '2.0': it is the current release"):
        unpack(root, "2.0", other, force=True)


def test_missing_release_without_src_is_an_error(root):
    with pytest.raises(ReleaseError, match=r"release '3\.0' is not in .*releases and no src was given"):
        unpack(root, "3.0")


def test_src_must_exist_on_the_host(root, tmp_path):
    with pytest.raises(ReleaseError, match="nowhere.tgz is not a file on the managed host"):
        unpack(root, "1.0", str(tmp_path / "nowhere.tgz"))


def test_checksum_is_verified_before_unpacking(root, v1):
    sha512 = "sha512:" + hashlib.sha512(open(v1, "rb").read()).hexdigest()
    assert unpack(root, "1.0", v1, checksum=sha512)["changed"]
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ReleaseError) as err:
        unpack(root, "2.0", v1, checksum=wrong)
    assert wrong in str(err.value) and sha256(v1) in str(err.value)
    assert releases(root) == ["1.0"]


def test_invalid_version_is_refused_before_anything_happens(root, v1):
    with pytest.raises(ReleaseError, match=r"release id '\.\./x' is invalid"):
        unpack(root, "../x", v1)
    assert not os.path.exists(root)


def test_check_mode_reports_change_and_writes_nothing(root, v1):
    tree = ReleaseRoot(root, check_mode=True)
    assert tree.unpack("1.0", v1)["changed"] is True
    assert tree.releases == ["1.0"]
    assert tree.switch_current("1.0")["changed"] is True
    assert tree.current == "1.0" and tree.status("1.0") == "pending"
    assert not os.path.exists(root)


def test_strip_components_removes_the_wrapper(root, tmp_path):
    src = make_tar(tmp_path / "w.tgz", {"bin/app": b"x"}, wrapper="myapp-1.2")
    unpack(root, "1.2", src, strip_components=1)
    assert os.path.isfile(os.path.join(root, "releases", "1.2", "bin", "app"))


def test_shared_paths_are_relative_links_seeded_once(root, tmp_path):
    first = make_tar(tmp_path / "a.tgz", {"config.yml": b"from release 1", "logs/": b""})
    second = make_tar(tmp_path / "b.tgz", {"config.yml": b"from release 2"})
    unpack(root, "1", first, shared_paths=["config.yml", "logs/", "var/uploads"])
    unpack(root, "2", second, shared_paths=["config.yml", "logs", "var/uploads"])
    for version in ("1", "2"):
        release = os.path.join(root, "releases", version)
        assert os.readlink(os.path.join(release, "config.yml")) == "../../shared/config.yml"
        assert os.readlink(os.path.join(release, "logs")) == "../../shared/logs"
        assert os.readlink(os.path.join(release, "var", "uploads")) == "../../../shared/var/uploads"
        assert open(os.path.join(release, "config.yml")).read() == "from release 1"
    assert os.path.isdir(os.path.join(root, "shared", "var", "uploads"))


@pytest.mark.parametrize("path", ["/var/log", "../outside", "a/../../b", ""])
def test_bad_shared_paths_are_refused(root, v1, path):
    with pytest.raises(ReleaseError, match="shared path %r" % path):
        unpack(root, "1.0", v1, shared_paths=[path])
    assert not os.path.exists(os.path.join(root, "releases", "1.0"))


@pytest.mark.parametrize(
    "members",
    [
        {"../evil": b"x"},
        {"/abs": b"x"},
    ],
)
def test_refused_archive_leaves_no_temp_dir_and_nothing_else(root, tmp_path, members, v1):
    unpack(root, "1.0", v1)
    switch_current(root, "1.0")
    bad = make_tar(tmp_path / "bad.tgz", dict(members, **{"ok": b"fine"}))
    before = listing(tmp_path)
    with pytest.raises(ReleaseError, match="archive member"):
        unpack(root, "2.0", bad, shared_paths=["logs", "new/shared"])
    assert listing(tmp_path) == before
    assert current_release(root) == "1.0"


def test_enospc_while_writing_cleans_up_and_keeps_current(root, tmp_path, v1, monkeypatch):
    unpack(root, "1.0", v1, shared_paths=["logs"])
    switch_current(root, "1.0")
    big = make_tar(tmp_path / "big.tgz", {"a": b"a" * 10, "b": b"b" * 10})
    before = listing(tmp_path)
    real_copy = _archive._Extractor.copy_data
    calls = []

    def copy_until_full(self, name, data, out):
        calls.append(name)
        if len(calls) == 2:
            out.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_copy(self, name, data, out)

    monkeypatch.setattr(_archive._Extractor, "copy_data", copy_until_full)
    with pytest.raises(ReleaseError, match="No space left on device") as failed:
        unpack(root, "2.0", big, shared_paths=["logs", "uploads"])
    # the free space is read after the partial release is gone, where the release was to go
    assert re.search(r"\(\d+ bytes and \d+ inodes free in %s once the partial release was removed\)$"
                     % re.escape(os.path.join(root, "releases")), str(failed.value)), failed.value
    assert calls == ["a", "b"]
    assert listing(tmp_path) == before
    assert os.readlink(os.path.join(root, "current")) == "releases/1.0"


def test_failure_after_shared_paths_undoes_what_it_created(root, tmp_path, v1, monkeypatch):
    from ansible_collections.lastmile.deploy.plugins.module_utils.release import root as _release

    def no_marker(*args):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(_release, "write_marker", no_marker)
    with pytest.raises(ReleaseError, match="I/O error"):
        unpack(root, "1.0", v1, shared_paths=["logs", "var/uploads"])
    assert not os.path.exists(root)


def test_releases_are_ordered_by_unpack_time_not_name(root, v1):
    for version in ("10", "9", "1.0-b"):
        unpack(root, version, v1)
    os.makedirs(os.path.join(root, "releases", ".tmp-junk-123"))
    assert releases(root) == ["10", "9", "1.0-b"]


# ---- the bytes unpacked are the bytes verified --------------------------------------------------

def rewrite(path, with_file, how):
    """Give ``path`` the content of ``with_file``: written into the same file, or a new file renamed over it."""
    if how == "in place":
        shutil.copyfile(with_file, path)
    else:
        shutil.copyfile(with_file, path + ".new")
        os.replace(path + ".new", path)


@pytest.mark.parametrize("how", ["in place", "renamed over"])
def test_src_rewritten_after_its_checksum_is_not_what_gets_unpacked(root, v1, tmp_path, monkeypatch, how):
    verified = sha256(v1)
    swapped = make_tar(tmp_path / "swapped.tgz", {"bin/app": b"swapped", "evil": b"not verified"})
    real_extract = _release.extract_archive

    def rewrite_then_extract(*args, **kwargs):
        rewrite(v1, swapped, how)
        return real_extract(*args, **kwargs)

    monkeypatch.setattr(_release, "extract_archive", rewrite_then_extract)
    result = unpack(root, "1.0", v1, checksum=verified)
    release = os.path.join(root, "releases", "1.0")
    assert result["after"]["checksum"] == verified
    assert open(os.path.join(release, "bin", "app")).read() == "one"
    assert not os.path.lexists(os.path.join(release, "evil"))
    assert json.load(open(os.path.join(release, MARKER_NAME)))["checksum"] == verified


def test_src_changed_between_the_decision_and_the_copy_is_refused(root, v1, tmp_path, monkeypatch):
    unpack(root, "1.0", v1)
    other = make_tar(tmp_path / "other.tgz", {"bin/app": b"two"})
    third = make_tar(tmp_path / "third.tgz", {"bin/app": b"three"})
    decided, changed = sha256(other), sha256(third)
    real_checksum = _release.archive_checksum

    def checksum_then_rewrite(src, expected=None):
        digest = real_checksum(src, expected)
        rewrite(src, third, "in place")
        return digest

    monkeypatch.setattr(_release, "archive_checksum", checksum_then_rewrite)
    before = listing(root)
    with pytest.raises(ReleaseError) as refused:
        unpack(root, "1.0", other, force=True)
    assert str(refused.value) == (
        "%s changed while it was being read: it had checksum %s, then %s; nothing was unpacked"
        % (other, decided, changed)
    )
    assert listing(root) == before
    assert open(os.path.join(root, "releases", "1.0", "bin", "app")).read() == "one"


class FillsUp:
    """A file that takes ``room`` bytes, then fails with ENOSPC like a full disk."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def write(self, data):
        if len(data) > self.room:
            self.real.write(data[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_disk_full_while_copying_the_archive_ends_clean(root, tmp_path, v1, monkeypatch):
    unpack(root, "1.0", v1)
    switch_current(root, "1.0")
    big = make_tar(tmp_path / "big.tgz", {"data": os.urandom(4096)})
    copies = []
    real_temporary_file = tempfile.TemporaryFile

    def small_disk(*args, **kwargs):
        copies.append(FillsUp(real_temporary_file(*args, **kwargs), room=1000))
        return copies[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", small_disk)
    before = listing(tmp_path)
    with pytest.raises(ReleaseError) as failed:
        unpack(root, "2.0", big)
    releases_dir = os.path.join(root, "releases")
    expected = r"cannot unpack %s into %s: No space left on device \(\d+ bytes and \d+ inodes free in %s once the " \
        r"partial release was removed\)$" % (re.escape(big), re.escape(os.path.join(releases_dir, "2.0")), re.escape(releases_dir))
    assert re.match(expected, str(failed.value)), failed.value
    assert len(copies) == 1 and copies[0].real.closed
    assert listing(tmp_path) == before
    assert os.readlink(os.path.join(root, "current")) == "releases/1.0"


def test_check_mode_only_hashes(root, v1, monkeypatch):
    def no_copy(*args, **kwargs):
        raise AssertionError("check mode copied the archive")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_copy)
    tree = ReleaseRoot(root, check_mode=True)
    assert tree.unpack("1.0", v1, checksum=sha256(v1))["after"]["checksum"] == sha256(v1)
    with pytest.raises(ReleaseError, match="checksum mismatch"):
        tree.unpack("2.0", v1, checksum="sha256:" + "0" * 64)
    assert not os.path.exists(root)


def test_src_that_is_not_a_regular_file_is_refused_before_anything_changes(root, tmp_path):
    os.mkfifo(str(tmp_path / "pipe.tgz"))
    with pytest.raises(ReleaseError, match="pipe.tgz is not a file on the managed host"):
        unpack(root, "1.0", str(tmp_path / "pipe.tgz"))
    assert not os.path.exists(root)


# ---- what interrupted runs leave in releases/ -----------------------------------------------------

UNPACK_THEN_HANG = """
import sys, time
from ansible_collections.lastmile.deploy.plugins.module_utils.release import root as _release
root, src, ready = sys.argv[1:4]
real_extract = _release.extract_archive

def extract_then_hang(*args, **kwargs):
    stats = real_extract(*args, **kwargs)
    open(ready, "w").close()
    time.sleep(600)
    return stats

_release.extract_archive = extract_then_hang
_release.ReleaseRoot(root).unpack("2.0", src)
"""


def hidden(root):
    return sorted(name for name in os.listdir(os.path.join(root, "releases")) if name.startswith("."))


def collections_path():
    """The directory holding ``ansible_collections`` this test imports the collection from."""
    path = os.path.abspath(_release.__file__)
    for _level in range(6):
        path = os.path.dirname(path)
    return path


def plant_leftover(root, name):
    path = os.path.join(root, "releases", name)
    os.makedirs(os.path.join(path, "read-only", "deep"))
    with open(os.path.join(path, "read-only", "file"), "w") as handle:
        handle.write("left behind")
    os.symlink("/", os.path.join(path, "read-only", "to-root"))
    os.chmod(os.path.join(path, "read-only"), 0o500)
    return path


def test_leftovers_of_a_killed_unpack_are_pruned_but_never_a_live_one(root, v1, tmp_path):
    unpack(root, "1.0", v1)
    switch_current(root, "1.0")
    plant_leftover(root, ".old-0.9-0123abcd")
    for keep in (".tmp-junk-123", ".tmp-bad version-0123abcd", ".keep"):
        open(os.path.join(root, "releases", keep), "w").close()
    v2 = make_tar(tmp_path / "v2.tgz", {"bin/app": b"two"})
    ready = str(tmp_path / "ready")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([collections_path()] + sys.path))
    child = subprocess.Popen([sys.executable, "-c", UNPACK_THEN_HANG, root, v2, ready], env=env)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            assert child.poll() is None, "the unpack ended early with %s" % child.returncode
            assert time.monotonic() < deadline, "the unpack never got to its extracted tree"
            time.sleep(0.05)
        live = [name for name in hidden(root) if name.startswith(".tmp-2.0-")]
        assert len(live) == 1
        before = hidden(root)
        assert ReleaseRoot(root).record("1.0", "succeeded", keep=1) == (True, [])
        assert hidden(root) == before  # an unpack is under way: nothing is taken
    finally:
        child.kill()
        child.wait()
    tree = ReleaseRoot(root)
    assert tree.prune(1) == []
    assert hidden(root) == [".keep", ".tmp-bad version-0123abcd", ".tmp-junk-123"]
    assert tree.removed_leftovers == sorted([".old-0.9-0123abcd"] + live)
    assert releases(root) == ["1.0"]


def test_prune_removes_leftovers_whatever_keep_is_and_not_in_check_mode(root, v1):
    unpack(root, "1.0", v1)
    switch_current(root, "1.0")
    for name in (".tmp-1.1-0123abcd", ".rm-0.8-89abcdef", ".old-1.0-rc.1-deadbeef"):
        plant_leftover(root, name)
    check = ReleaseRoot(root, check_mode=True)
    assert check.record("1.0", "succeeded", keep=0) == (True, [])
    assert len(hidden(root)) == 3
    assert ReleaseRoot(root).record("1.0", "succeeded", keep=0) == (True, [])
    assert hidden(root) == []
    assert releases(root) == ["1.0"]


# ---- shared paths: judged as the release will be used ---------------------------------------------

def make_links_tar(path, members):
    """A .tar.gz of (name, link target or None for a directory or bytes for a file, mode)."""
    with tarfile.open(str(path), "w:gz") as tar:
        for name, value, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if value is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(value, bytes):
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
    return str(path)


def test_link_through_a_shipped_shared_path_cannot_climb_out_of_the_shared_directory(root, tmp_path):
    """``logs`` is judged where the archive puts it, then linked to <root>/shared/logs: ``esc`` is judged again."""
    (tmp_path / "outside").mkdir()
    src = make_links_tar(tmp_path / "relink.tgz", [
        ("d1/d2/d3/d4/d5", None, 0o755), ("logs", "d1/d2/d3/d4/d5", 0o777),
        ("esc", "logs/../../../outside", 0o777), ("app.txt", b"hello", 0o644)])
    before = listing(tmp_path)
    with pytest.raises(ReleaseError) as refused:
        unpack(root, "1.0", src, shared_paths=["logs"])
    assert str(refused.value) == (
        "archive member 'esc' is a symlink to 'logs/../../../outside', which leads out of the shared path 'logs' "
        "once that path is linked to %s: a link may lead into a shared path, never out of it"
        % os.path.join(root, "shared", "logs"))
    assert listing(tmp_path) == before


def test_links_may_lead_into_shared_paths_and_seeded_ones_keep_their_modes(root, tmp_path):
    src = make_links_tar(tmp_path / "into.tgz", [
        ("logs", None, 0o750), ("logs/old", None, 0o700), ("logs/latest", "old/app.log", 0o777),
        ("app.log", "logs/latest", 0o777), ("uploads", "var/uploads/today", 0o777), ("var", None, 0o755)])
    unpack(root, "1.0", src, shared_paths=["logs", "var/uploads"])
    release = os.path.join(root, "releases", "1.0")
    shared = os.path.join(root, "shared")
    assert os.path.realpath(os.path.join(release, "app.log")) == os.path.join(shared, "logs", "old", "app.log")
    assert os.path.realpath(os.path.join(release, "uploads")) == os.path.join(shared, "var", "uploads", "today")
    assert stat.S_IMODE(os.lstat(os.path.join(shared, "logs")).st_mode) == 0o750
    assert stat.S_IMODE(os.lstat(os.path.join(shared, "logs", "old")).st_mode) == 0o700


def test_a_link_the_release_seeds_into_a_shared_path_must_stay_inside_it(root, tmp_path):
    """Inside the release ``logs/config -> ../config`` is fine; moved to <root>/shared/logs it is not."""
    src = make_links_tar(tmp_path / "seed.tgz", [
        ("config", None, 0o755), ("logs", None, 0o755), ("logs/config", "../config", 0o777)])
    unpack(root, "0.9", src)  # no shared path: an ordinary link inside the release
    with pytest.raises(ReleaseError, match=r"archive member 'logs/config' is a symlink to '\.\./config', which leads "
                                           r"out of the shared path 'logs'"):
        unpack(root, "1.0", src, shared_paths=["logs"])
    assert not os.path.lexists(os.path.join(root, "shared"))
    assert releases(root) == ["0.9"]


# ---- removal without depth limits ---------------------------------------------------------------------

def make_deep_tree(top, depth):
    """``top/d/d/.../d`` ``depth`` levels deep, made through descriptors, every tenth level read-only,
    a file and a link to / at the bottom."""
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY)
    try:
        for level in range(depth):
            os.mkdir("d", dir_fd=fd)
            following = os.open("d", os.O_RDONLY, dir_fd=fd)
            if level % 10 == 0:
                os.fchmod(following, 0o500)
            os.close(fd)
            fd = following
        os.symlink("/", "to-root", dir_fd=fd)
    finally:
        os.close(fd)


def test_remove_tree_removes_trees_deeper_than_python_recursion_and_path_max(tmp_path):
    top = str(tmp_path / "deep")
    make_deep_tree(top, 1100)  # 1100 levels, 2200 bytes of path: past Python's recursion limit of 1000
    before = os.listdir("/")
    remove_tree(top)
    assert os.listdir(str(tmp_path)) == []
    assert os.listdir("/") == before
