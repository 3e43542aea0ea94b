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
import tarfile

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils import _archive
from ansible_collections.lastmile.deploy.plugins.module_utils._release_fs import MARKER_NAME
from ansible_collections.lastmile.deploy.plugins.module_utils._release import (
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
    from ansible_collections.lastmile.deploy.plugins.module_utils import _release

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
