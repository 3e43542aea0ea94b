# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release module against hostile archives, a src rewritten under it, and interrupted runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils import _release
from ansible_collections.lastmile.deploy.plugins.modules import release
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.archive_builders import (
    tar_gz,
    alias_escape_members,
    lstat_tree,
    write_members,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process


def sha256(path):
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "app")


def test_archive_with_a_repointed_alias_link_is_refused_and_nothing_outside_changes(tmp_path, root, capsys):
    """The release's temporary directory is <tmp>/app/releases/.tmp-*: three levels up is <tmp>."""
    good = tar_gz(tmp_path / "good.tgz", {"app.txt": b"good"})
    rc, result = run_in_process(release.main, dict(root=root, version="0.9", src=good), capsys)
    assert rc == 0, result
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    outside.chmod(0o700)
    src = write_members(tmp_path / "hostile.tgz", alias_escape_members(3, "outside"))
    releases_dir = os.path.join(root, "releases")
    before = lstat_tree(tmp_path, skip=releases_dir), lstat_tree(os.path.join(releases_dir, "0.9"), skip=None)
    rc, result = run_ansible("release", dict(root=root, version="1.0", src=src, checksum=sha256(src), state="present"))
    assert rc != 0, result
    assert result["msg"] == (
        "archive member 'L/x/s' would be written through a link at 'L': expected real directories on its path"
    )
    assert stat.S_IMODE(os.lstat(str(outside)).st_mode) == 0o700
    assert (lstat_tree(tmp_path, skip=releases_dir), lstat_tree(os.path.join(releases_dir, "0.9"), skip=None)) == before
    assert os.listdir(releases_dir) == ["0.9"]


def test_src_rewritten_after_its_checksum_is_not_what_gets_unpacked(tmp_path, root, capsys, monkeypatch):
    src = tar_gz(tmp_path / "app.tgz", {"app.txt": b"verified"})
    verified = sha256(src)
    swapped = tar_gz(tmp_path / "swapped.tgz", {"app.txt": b"swapped"})
    real_extract = _release.extract_archive

    def rewrite_then_extract(*args, **kwargs):
        shutil.copyfile(swapped, src)
        return real_extract(*args, **kwargs)

    monkeypatch.setattr(_release, "extract_archive", rewrite_then_extract)
    rc, result = run_in_process(release.main, dict(root=root, version="1.0", src=src, checksum=verified), capsys)
    assert rc == 0 and result["changed"] is True, result
    assert open(os.path.join(root, "current", "app.txt")).read() == "verified"


def test_succeeded_removes_what_interrupted_runs_left(tmp_path, root, capsys):
    src = tar_gz(tmp_path / "app.tgz", {"app.txt": b"one"})
    rc, result = run_in_process(release.main, dict(root=root, version="1.0", src=src), capsys)
    assert rc == 0, result
    releases_dir = os.path.join(root, "releases")
    for name in (".tmp-2.0-0123abcd", ".old-1.0-89abcdef", ".rm-0.9-deadbeef"):
        os.makedirs(os.path.join(releases_dir, name, "locked"))
        os.chmod(os.path.join(releases_dir, name, "locked"), 0o500)
    open(os.path.join(releases_dir, ".tmp-not a version-0123abcd"), "w").close()
    rc, result = run_in_process(release.main, dict(root=root, version="1.0", state="succeeded", keep_releases=2), capsys)
    assert rc == 0 and result["changed"] is True, result
    assert result["releases"] == ["1.0"] and result["removed"] == []
    assert sorted(os.listdir(releases_dir)) == [".tmp-not a version-0123abcd", "1.0"]
