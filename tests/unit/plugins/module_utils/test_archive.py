# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction: real archives built in tmp_path, extracted into real directories."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils._archive import (
    ArchiveError,
    archive_format,
    extract_archive,
    member_path,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.archive_builders import (
    alias_escape_members,
    lstat_tree,
    write_members,
)


def add_file(tar, name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def add_special(tar, name, kind, linkname="", mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    tar.addfile(info)


def build_tar(path, build, mode="w:gz"):
    with tarfile.open(str(path), mode) as tar:
        build(tar)
    return str(path)


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / "box" / "dest"
    path.mkdir(parents=True)
    return path


def tree(path):
    return sorted(
        os.path.relpath(os.path.join(d, n), str(path))
        for d, dirs, files in os.walk(str(path))
        for n in dirs + files
    )


def test_normal_tar_gz_keeps_layout_modes_and_links(tmp_path, dest):
    def build(tar):
        add_special(tar, "app", tarfile.DIRTYPE, mode=0o750)
        add_file(tar, "app/run.sh", b"#!/bin/sh\n", mode=0o4755)
        add_file(tar, "app/lib/data.txt", b"hello")
        add_special(tar, "app/data-link", tarfile.SYMTYPE, linkname="lib/data.txt")
        add_special(tar, "app/hard", tarfile.LNKTYPE, linkname="app/lib/data.txt")

    src = build_tar(tmp_path / "a.tar.gz", build)
    stats = extract_archive(src, str(dest))
    assert stats == {"members": 5, "bytes": len(b"#!/bin/sh\n") + 5}
    assert tree(dest) == ["app", "app/data-link", "app/hard", "app/lib", "app/lib/data.txt", "app/run.sh"]
    assert stat.S_IMODE(os.stat(str(dest / "app" / "run.sh")).st_mode) == 0o755  # setuid dropped
    assert stat.S_IMODE(os.stat(str(dest / "app")).st_mode) == 0o750
    assert os.readlink(str(dest / "app" / "data-link")) == "lib/data.txt"
    assert (dest / "app" / "hard").read_bytes() == b"hello"
    assert os.stat(str(dest / "app" / "hard")).st_ino == os.stat(str(dest / "app/lib/data.txt")).st_ino


def test_strip_components_drops_wrapper_directory(tmp_path, dest):
    src = build_tar(tmp_path / "a.tgz", lambda t: (add_file(t, "myapp-1.2/bin/app"), add_file(t, "myapp-1.2/README")))
    extract_archive(src, str(dest), strip_components=1)
    assert tree(dest) == ["README", "bin", "bin/app"]


def test_wrapper_directory_kept_by_default(tmp_path, dest):
    src = build_tar(tmp_path / "a.tgz", lambda t: add_file(t, "myapp-1.2/README"))
    extract_archive(src, str(dest))
    assert tree(dest) == ["myapp-1.2", "myapp-1.2/README"]


def test_format_detected_by_content_not_suffix(tmp_path):
    tar_named_zip = build_tar(tmp_path / "release.zip", lambda t: add_file(t, "a"), mode="w")
    zip_named_tgz = str(tmp_path / "release.tgz")
    with zipfile.ZipFile(zip_named_tgz, "w") as archive:
        archive.writestr("a", "x")
    assert archive_format(tar_named_zip) == "tar"
    assert archive_format(zip_named_tgz) == "zip"
    not_archive = tmp_path / "notes.tar.gz"
    not_archive.write_text("just text\n")
    with pytest.raises(ArchiveError, match="notes.tar.gz is not a supported archive"):
        archive_format(str(not_archive))


def test_zip_extracts_files_dirs_modes_and_symlinks(tmp_path, dest):
    src = str(tmp_path / "a.zip")
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bin/", "")
        script = zipfile.ZipInfo("bin/app")
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(script, "#!/bin/sh\n")
        link = zipfile.ZipInfo("app-link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "bin/app")
    extract_archive(src, str(dest))
    assert stat.S_IMODE(os.stat(str(dest / "bin" / "app")).st_mode) == 0o755
    assert os.readlink(str(dest / "app-link")) == "bin/app"


@pytest.mark.parametrize(
    "build, member",
    [
        (lambda t: add_file(t, "../evil"), "../evil"),
        (lambda t: add_file(t, "app/../../evil"), "app/../../evil"),
        (lambda t: add_file(t, "/tmp/evil"), "/tmp/evil"),
        (lambda t: add_special(t, "etc", tarfile.SYMTYPE, linkname="/etc"), "etc"),
        (lambda t: add_special(t, "up", tarfile.SYMTYPE, linkname="../../x"), "up"),
        (lambda t: add_special(t, "hard", tarfile.LNKTYPE, linkname="../../box/secret"), "hard"),
        (lambda t: add_special(t, "hard", tarfile.LNKTYPE, linkname="/etc/passwd"), "hard"),
        (lambda t: add_special(t, "null", tarfile.CHRTYPE), "null"),
        (lambda t: add_special(t, "disk", tarfile.BLKTYPE), "disk"),
        (lambda t: add_special(t, "pipe", tarfile.FIFOTYPE), "pipe"),
    ],
    ids=["dotdot", "inner-dotdot", "absolute", "symlink-etc", "symlink-up", "hardlink-up",
         "hardlink-absolute", "chardev", "blockdev", "fifo"],
)
def test_unsafe_tar_members_are_refused_naming_the_member(tmp_path, dest, build, member):
    (tmp_path / "box" / "secret").write_text("keep")
    src = build_tar(tmp_path / "bad.tar.gz", build)
    before = tree(tmp_path)
    with pytest.raises(ArchiveError) as err:
        extract_archive(src, str(dest))
    assert repr(member) in str(err.value)
    assert tree(tmp_path) == before
    assert (tmp_path / "box" / "secret").read_text() == "keep"


def test_symlinked_parent_cannot_redirect_a_later_symlink_outside(tmp_path, dest):
    def build(tar):
        add_special(tar, "t", tarfile.SYMTYPE, linkname="b/../escaped")  # inside while b is absent
        add_special(tar, "b", tarfile.SYMTYPE, linkname=".")  # now t leads to ../escaped

    src = build_tar(tmp_path / "a.tgz", build)
    with pytest.raises(ArchiveError, match="'t' is a symlink that resolves outside"):
        extract_archive(src, str(dest))


def test_member_written_through_escaping_link_is_refused(tmp_path, dest):
    def build(tar):
        add_special(tar, "t", tarfile.SYMTYPE, linkname="b/../x")
        add_special(tar, "b", tarfile.SYMTYPE, linkname=".")
        add_file(tar, "t/payload")

    src = build_tar(tmp_path / "a.tgz", build)
    with pytest.raises(ArchiveError, match="'t/payload' would be written through a link"):
        extract_archive(src, str(dest))
    assert not (tmp_path / "box" / "x").exists()


def test_zip_with_dotdot_member_is_refused(tmp_path, dest):
    src = str(tmp_path / "bad.zip")
    with zipfile.ZipFile(src, "w") as archive:
        archive.writestr("ok.txt", "fine")
        archive.writestr("../../evil.txt", "boom")
    with pytest.raises(ArchiveError, match=r"'\.\./\.\./evil\.txt' contains '\.\.'"):
        extract_archive(src, str(dest))
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_to_absolute_path_is_refused(tmp_path, dest):
    src = str(tmp_path / "bad.zip")
    with zipfile.ZipFile(src, "w") as archive:
        link = zipfile.ZipInfo("etc")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc")
    with pytest.raises(ArchiveError, match="'etc' is a symlink to '/etc'"):
        extract_archive(src, str(dest))


def test_member_with_huge_size_is_refused_by_size_budget(tmp_path, dest):
    zeros = b"\0" * (50 * 1024 * 1024)
    src = build_tar(tmp_path / "bomb.tar.gz", lambda t: add_file(t, "zeros", zeros))
    assert os.path.getsize(src) < 1024 * 1024  # compresses tiny
    with pytest.raises(ArchiveError, match=r"more than 1048576 bytes \(reached at member 'zeros'\)"):
        extract_archive(src, str(dest), max_size=1024 * 1024)
    assert not (dest / "zeros").exists()


def test_size_budget_counts_bytes_actually_read(tmp_path, dest, monkeypatch):
    """The running count stops a member whose header understates its data."""
    src = build_tar(tmp_path / "a.tgz", lambda t: add_file(t, "big", b"a" * 4096))
    real_open = tarfile.open

    def lying_open(*args, **kwargs):
        archive = real_open(*args, **kwargs)
        real_next = archive.next

        def next_member():
            member = real_next()
            if member is not None and member.isreg():
                member.size = 10  # what the header claims; the stream still yields 4096 bytes
                archive.extractfile = lambda m: io.BytesIO(b"a" * 4096)
            return member

        archive.next = next_member
        return archive

    monkeypatch.setattr(tarfile, "open", lying_open)
    with pytest.raises(ArchiveError, match="more than 1000 bytes"):
        extract_archive(src, str(dest), max_size=1000)


def test_many_members_are_refused_by_member_budget(tmp_path, dest):
    src = build_tar(tmp_path / "many.tgz", lambda t: [add_file(t, "f%d" % i) for i in range(50)])
    with pytest.raises(ArchiveError, match="more than 20 members"):
        extract_archive(src, str(dest), max_members=20)
    assert len(os.listdir(str(dest))) <= 20


def test_zip_bomb_is_refused(tmp_path, dest):
    src = str(tmp_path / "bomb.zip")
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(ArchiveError, match="decompression bomb"):
        extract_archive(src, str(dest), max_size=1024 * 1024)


def test_corrupt_archive_is_reported(tmp_path, dest):
    src = build_tar(tmp_path / "a.tar.gz", lambda t: add_file(t, "a", os.urandom(200000)))
    data = open(src, "rb").read()
    with open(src, "wb") as handle:
        handle.write(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="cannot read archive"):
        extract_archive(src, str(dest))


def test_member_path_rules():
    assert member_path("./a//b/./c") == "a/b/c"
    assert member_path("wrap/a", strip_components=1) == "a"
    assert member_path("wrap/", strip_components=1) is None
    with pytest.raises(ArchiveError, match="absolute"):
        member_path("/a")
    with pytest.raises(ArchiveError, match="'a/../../b' contains '..'"):
        member_path("a/../../b")


# ---- links that lead outside only once later members are in place ----------------------------

@pytest.fixture
def outside(tmp_path):
    """A 0700 directory two levels above ``dest``, with a file in it."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "keep.txt").write_text("keep")
    path.chmod(0o700)
    return path


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_link_made_through_an_alias_and_repointed_later_cannot_reach_outside(tmp_path, dest, outside, kind):
    src = write_members(tmp_path / ("alias." + kind), alias_escape_members(2, "outside"), kind)
    before = lstat_tree(tmp_path, skip=dest)
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value) == (
        "archive member 'L/x/s' would be written through a link at 'L': expected real directories on its path"
    )
    assert stat.S_IMODE(os.lstat(str(outside)).st_mode) == 0o700
    assert lstat_tree(tmp_path, skip=dest) == before


def test_directory_member_under_a_link_is_refused_before_any_mode_is_set(tmp_path, dest, outside):
    members = alias_escape_members(2, "outside", through_alias=False)
    src = write_members(tmp_path / "direct.tgz", members)
    before = lstat_tree(tmp_path, skip=dest)
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value) == (
        "archive member 'real/x/s/outside' would be written through a link at 'real/x/s': "
        "expected real directories on its path"
    )
    assert lstat_tree(tmp_path, skip=dest) == before


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_final_tree_is_judged_naming_the_member_that_made_the_link(tmp_path, dest, outside, kind):
    members = alias_escape_members(2, "outside", through_alias=False, with_victim=False)
    src = write_members(tmp_path / ("late." + kind), members, kind)
    before = lstat_tree(tmp_path, skip=dest)
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value) == (
        "archive member 'real/x/s' is a symlink that resolves outside the release once all members are in place"
    )
    assert lstat_tree(tmp_path, skip=dest) == before


def test_member_through_a_link_inside_the_release_is_refused_too(tmp_path, dest):
    def build(tar):
        add_special(tar, "real", tarfile.DIRTYPE)
        add_special(tar, "L", tarfile.SYMTYPE, linkname="real")
        add_file(tar, "L/file")

    src = build_tar(tmp_path / "a.tgz", build)
    with pytest.raises(ArchiveError, match="'L/file' would be written through a link at 'L'"):
        extract_archive(src, str(dest))
    assert os.listdir(str(dest / "real")) == []


def test_member_under_a_file_is_refused_naming_both(tmp_path, dest):
    src = build_tar(tmp_path / "a.tgz", lambda t: (add_file(t, "f"), add_file(t, "f/g")))
    with pytest.raises(ArchiveError, match="archive member 'f/g' needs 'f' to be a directory, but an earlier member made it a file"):
        extract_archive(src, str(dest))


def test_loop_of_links_is_refused(tmp_path, dest):
    def build(tar):
        add_special(tar, "a", tarfile.SYMTYPE, linkname="b")
        add_special(tar, "b", tarfile.SYMTYPE, linkname="a")

    src = build_tar(tmp_path / "a.tgz", build)
    with pytest.raises(ArchiveError, match="'b' is a symlink to 'a', which never resolves: a loop of links"):
        extract_archive(src, str(dest))


def test_hardlink_reached_through_a_link_links_the_real_file(tmp_path, dest):
    def build(tar):
        add_file(tar, "real/data", b"payload", mode=0o640)
        add_special(tar, "L", tarfile.SYMTYPE, linkname="real")
        add_special(tar, "copy", tarfile.LNKTYPE, linkname="L/data")
        add_special(tar, "link-to-link", tarfile.LNKTYPE, linkname="L")

    src = build_tar(tmp_path / "a.tgz", build)
    with pytest.raises(ArchiveError, match="'link-to-link' is a hardlink to 'L': expected an earlier regular file"):
        extract_archive(src, str(dest))
    assert os.lstat(str(dest / "copy")).st_ino == os.lstat(str(dest / "real" / "data")).st_ino


def test_file_replacing_a_hardlink_does_not_write_into_the_other_name(tmp_path, dest):
    def build(tar):
        add_file(tar, "a", b"first")
        add_special(tar, "b", tarfile.LNKTYPE, linkname="a")
        add_file(tar, "b", b"second")
        add_special(tar, "a", tarfile.LNKTYPE, linkname="a")  # to itself: stays as it is

    extract_archive(build_tar(tmp_path / "a.tgz", build), str(dest))
    assert (dest / "a").read_bytes() == b"first" and (dest / "b").read_bytes() == b"second"


def test_tar_mtimes_and_read_only_directory_modes_are_applied_at_the_end(tmp_path, dest):
    def build(tar):
        add_special(tar, "ro", tarfile.DIRTYPE, mode=0o555)
        info = tarfile.TarInfo("ro/file")
        info.size, info.mode, info.mtime = 2, 0o644, 1234567890
        tar.addfile(info, io.BytesIO(b"ok"))

    extract_archive(build_tar(tmp_path / "a.tgz", build), str(dest))
    assert stat.S_IMODE(os.lstat(str(dest / "ro")).st_mode) == 0o555
    assert os.lstat(str(dest / "ro" / "file")).st_mtime == 1234567890


def test_extracts_from_an_open_file_read_from_its_start(tmp_path, dest):
    src = build_tar(tmp_path / "a.tgz", lambda t: add_file(t, "app.txt", b"from the open file"))
    with open(src, "rb") as handle:
        handle.read(10)
        assert archive_format(handle, "a.tgz") == "tar"
        extract_archive(handle, str(dest), name="a.tgz")
    assert (dest / "app.txt").read_bytes() == b"from the open file"
    with open(src, "rb") as handle:
        data = io.BytesIO(handle.read()[:50])
    with pytest.raises(ArchiveError, match="cannot read archive release.tgz"):
        extract_archive(data, str(dest), name="release.tgz")
