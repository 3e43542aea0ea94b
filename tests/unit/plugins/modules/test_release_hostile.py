# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release module against hostile archives, a src rewritten under it, and interrupted runs."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release import root as _release
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


# ---- archives that attacked the judgement itself --------------------------------------------------

def add_member(tar, name, kind=tarfile.REGTYPE, data=b"", linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def hostile(path, build):
    with tarfile.open(str(path), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return str(path)


@pytest.fixture
def sandbox(tmp_path):
    """A directory beside the deploy root, with a file in it: what an escaping link would reach."""
    outside = tmp_path / "sentinel"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("secret")
    return outside


def test_archive_judged_through_paths_past_path_max_is_refused_with_a_short_message(tmp_path, root, sandbox):
    levels = [chr(ord("A") + index) * 255 for index in range(17)]

    def build(tar):
        deep = "/".join(levels)
        add_member(tar, deep + "/", tarfile.DIRTYPE, mode=0o755)
        add_member(tar, deep + "/T", tarfile.SYMTYPE, linkname="../" * 16 + "..")
        add_member(tar, "p", tarfile.SYMTYPE, linkname="/".join(levels[:8]))
        add_member(tar, "/".join(levels[:8]) + "/q", tarfile.SYMTYPE, linkname="/".join(levels[8:]))
        add_member(tar, "esc", tarfile.SYMTYPE, linkname="p/q/T/../../../sentinel")

    src = hostile(tmp_path / "long.tgz", build)
    before = lstat_tree(sandbox, skip=None)
    rc, result = run_ansible("release", dict(root=root, version="1.0", src=src, checksum=sha256(src)))
    assert rc != 0, result
    assert result["msg"] == (
        "archive member 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...QQQQQQQQQQQQQQQQQQQQQQQQ' (4351 characters) "
        "is 4351 bytes long: expected less than 4096 bytes (PATH_MAX)"
    )
    assert lstat_tree(sandbox, skip=None) == before
    assert not os.path.exists(root)  # nothing is left of the refused release


def test_shipped_link_at_a_shared_path_cannot_lead_a_link_out_of_the_release(tmp_path, root, sandbox):
    def build(tar):
        add_member(tar, "d1/d2/d3/d4/d5/", tarfile.DIRTYPE, mode=0o755)
        add_member(tar, "logs", tarfile.SYMTYPE, linkname="d1/d2/d3/d4/d5")
        add_member(tar, "esc", tarfile.SYMTYPE, linkname="logs/../../../sentinel")
        add_member(tar, "app.txt", data=b"hello\n")

    src = hostile(tmp_path / "relink.tgz", build)
    before = lstat_tree(sandbox, skip=None)
    rc, result = run_ansible("release", dict(root=root, version="1.0", src=src, checksum=sha256(src), shared_paths=["logs"]))
    assert rc != 0, result
    assert result["msg"] == (
        "archive member 'esc' is a symlink to 'logs/../../../sentinel', which leads out of the shared path 'logs' "
        "once that path is linked to %s: a link may lead into a shared path, never out of it"
        % os.path.join(root, "shared", "logs")
    )
    assert lstat_tree(sandbox, skip=None) == before
    assert not os.path.exists(root)  # nor of the shared directory made for it


def make_deep_leftover(path, depth):
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _level in range(depth):
            os.mkdir("d", dir_fd=fd)
            following = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = following
    finally:
        os.close(fd)


def test_a_tiny_archive_cannot_make_a_deep_tree(tmp_path, root, capsys):
    deep = hostile(tmp_path / "deep.tgz", lambda tar: (add_member(tar, "d/" * 300 + "f", data=b"x"),
                                                       add_member(tar, "bad", tarfile.SYMTYPE, linkname="/etc")))
    assert os.path.getsize(deep) < 1024
    rc, result = run_in_process(release.main, dict(root=root, version="1.0", src=deep, state="present",
                                                   max_members=10, max_size=100), capsys)
    assert rc != 0
    assert re.fullmatch(r"archive member 'd/d/d/.*/f' \(601 characters\) is 301 levels deep: expected at most 256",
                        result["msg"]), result["msg"]
    assert not os.path.exists(root)


def test_succeeded_prunes_a_leftover_too_deep_for_recursion(tmp_path, root, capsys):
    good = tar_gz(tmp_path / "good.tgz", {"app.txt": b"ok"})
    rc, result = run_in_process(release.main, dict(root=root, version="0.9", src=good), capsys)
    assert rc == 0, result
    # what an earlier version could leave behind: far deeper than Python's recursion limit
    releases_dir = os.path.join(root, "releases")
    make_deep_leftover(os.path.join(releases_dir, ".tmp-1.0-0123abcd"), 1100)
    rc, result = run_in_process(release.main, dict(root=root, version="0.9", state="succeeded"), capsys)
    assert rc == 0 and result["changed"] is True, result
    assert os.listdir(releases_dir) == ["0.9"]


def test_pax_header_too_big_to_read_is_refused_before_it_is_read(tmp_path, root, capsys):
    record = b" path=" + b"a" * (64 * 1024 * 1024) + b"\n"
    size = len(record) + len(str(len(record) + 10))
    record = str(size).encode() + record
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(record)
    src = str(tmp_path / "pax.tgz")
    with gzip.open(src, "wb") as out:
        out.write(header.tobuf(tarfile.USTAR_FORMAT) + record + b"\0" * (-len(record) % 512))
        out.write(tarfile.TarInfo("x").tobuf(tarfile.USTAR_FORMAT) + b"\0" * 1024)
    assert os.path.getsize(src) < 100 * 1024
    started = time.monotonic()
    rc, result = run_in_process(release.main, dict(root=root, version="1.0", src=src, max_size=100, max_members=10), capsys)
    assert rc != 0
    assert result["msg"] == (
        "archive has %d bytes of extended headers (pax, GNU long names) before one member: expected at most "
        "1048576; refusing it before reading them" % len(record))
    assert time.monotonic() - started < 5
    assert not os.path.exists(root)


def test_world_writable_and_sticky_modes_of_members_are_dropped(tmp_path, root):
    def build(tar):
        add_member(tar, "public/", tarfile.DIRTYPE, mode=0o1777)
        add_member(tar, "public/run.sh", data=b"#!/bin/sh\n", mode=0o777)

    src = hostile(tmp_path / "modes.tgz", build)
    rc, result = run_ansible("release", dict(root=root, version="1.0", src=src, checksum=sha256(src)))
    assert rc == 0, result
    public = os.path.join(root, "current", "public")
    assert stat.S_IMODE(os.lstat(public).st_mode) == 0o775
    assert stat.S_IMODE(os.lstat(os.path.join(public, "run.sh")).st_mode) == 0o775
