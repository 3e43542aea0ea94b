# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe extraction: real archives built in tmp_path, extracted into real directories."""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import tarfile
import tracemalloc
import zipfile

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release import archive as _archive
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive import extract_archive
from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import (
    ArchiveError,
    archive_format,
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
    with pytest.raises(ArchiveError, match="'a' is a symlink to 'b', which never resolves: a loop of links"):
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


# ---- limits of the system, judged one name at a time -----------------------------------------------

def make_deep_dirs(top, names):
    """Directories ``names`` nested under ``top``, made through descriptors (the path may pass PATH_MAX)."""
    fd = os.open(str(top), os.O_RDONLY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            following = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = following
    except BaseException:
        os.close(fd)
        raise
    return fd


def test_link_judged_through_a_path_longer_than_path_max_is_refused(tmp_path, dest, outside):
    """A link is judged name by name through descriptors: one reached by a path past PATH_MAX is still read."""
    levels = [chr(ord("A") + index) * 255 for index in range(17)]
    fd = make_deep_dirs(dest, levels)
    try:
        os.symlink("../" * 16 + "..", "T", dir_fd=fd)  # T -> the root of dest, 4351 bytes down
    finally:
        os.close(fd)

    def build(tar):
        add_special(tar, "p", tarfile.SYMTYPE, linkname="/".join(levels[:8]))
        add_special(tar, "/".join(levels[:8]) + "/q", tarfile.SYMTYPE, linkname="/".join(levels[8:]))
        # p/q is the 17th level, where T leads back to dest: three levels up is dest's parent's parent
        add_special(tar, "esc", tarfile.SYMTYPE, linkname="p/q/T/../../../outside")

    src = build_tar(tmp_path / "long.tgz", build)
    before = lstat_tree(tmp_path, skip=dest)
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value) == (
        "archive member 'esc' is a symlink to 'p/q/T/../../../outside', which resolves outside the release"
    )
    assert not os.path.lexists(str(dest / "esc"))
    assert lstat_tree(tmp_path, skip=dest) == before


def test_a_lookup_that_fails_refuses_the_archive_instead_of_taking_the_name_as_missing(tmp_path, dest, monkeypatch):
    """Fail closed: ``b`` cannot be read, so where ``u`` leads is unknown (it is outside: b -> .)."""
    real_stat = os.stat

    def unreadable_b(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)  # a missing b stays missing
        if path == "b" and kwargs.get("dir_fd") is not None:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return result

    def build(tar):
        add_special(tar, "b", tarfile.SYMTYPE, linkname=".")
        add_special(tar, "u", tarfile.SYMTYPE, linkname="b/../escaped")

    src = build_tar(tmp_path / "a.tgz", build)
    monkeypatch.setattr(os, "stat", unreadable_b)
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value) == "cannot judge where archive member 'u' leads: Permission denied at 'b'; refusing it"


LONG_NAME = "n" * 256


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda t: add_file(t, "d/" * 2047 + "ff"),
         r"archive member 'd/d/d/.*\.\.\..*/ff' \(4096 characters\) is 4096 bytes long: "
         r"expected less than 4096 bytes \(PATH_MAX\)"),
        (lambda t: add_file(t, "ok/" + LONG_NAME),
         r"archive member 'ok/nnn.*' \(259 characters\) has a name of 256 bytes, 'nnn.*' \(256 characters\): "
         r"expected at most 255 bytes per name \(NAME_MAX\)"),
        (lambda t: add_special(t, "l", tarfile.SYMTYPE, linkname="a/" * 2048),
         r"archive member 'l' is a symlink to 'a/a/.*' \(4096 characters\), which is 4096 bytes long"),
        (lambda t: add_special(t, "l", tarfile.SYMTYPE, linkname="x/" + LONG_NAME),
         r"archive member 'l' is a symlink to 'x/nnn.*' \(258 characters\), which has a name of 256 bytes"),
    ],
    ids=["name-past-path-max", "name-past-name-max", "target-past-path-max", "target-past-name-max"],
)
def test_names_and_link_targets_past_the_system_limits_are_refused_with_a_short_message(tmp_path, dest, build, message):
    src = build_tar(tmp_path / "long.tgz", build, mode="w:gz")
    with pytest.raises(ArchiveError, match=message) as refused:
        extract_archive(src, str(dest))
    assert len(str(refused.value)) < 300
    assert os.listdir(str(dest)) == []


def test_zip_link_target_is_refused_when_too_long_never_cut(tmp_path, dest):
    src = str(tmp_path / "long.zip")
    with zipfile.ZipFile(src, "w") as archive:
        link = zipfile.ZipInfo("l")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "a/" * 2100)
    with pytest.raises(ArchiveError, match=r"'l' is a symlink to 'a/a/.*' \(4096 characters\), which is 4096 bytes long"):
        extract_archive(src, str(dest))


# ---- depth and entries --------------------------------------------------------------------------------

def test_member_deeper_than_the_limit_is_refused_before_any_directory_is_made(tmp_path, dest):
    deepest = build_tar(tmp_path / "ok.tgz", lambda t: add_file(t, "d/" * 255 + "f"))  # 256 levels
    extract_archive(deepest, str(dest))
    too_deep = build_tar(tmp_path / "deep.tgz", lambda t: add_file(t, "e/" * 256 + "f"))
    with pytest.raises(ArchiveError, match=r"archive member 'e/e/.*/f' \(513 characters\) is 257 levels deep: expected at most 256"):
        extract_archive(too_deep, str(dest))
    assert sorted(os.listdir(str(dest))) == ["d"]


def test_directories_made_for_members_paths_count_as_members(tmp_path, dest):
    src = build_tar(tmp_path / "a.tgz", lambda t: add_file(t, "d/" * 30 + "f"))
    with pytest.raises(ArchiveError, match=r"more than 10 members \(counting the 10 directories made for members' paths\)"):
        extract_archive(src, str(dest), max_members=10)
    made = sum(len(dirs) + len(files) for _path, dirs, files in os.walk(str(dest)))
    assert made <= 10


def count_calls(monkeypatch, *names):
    """Count calls of os functions ``names`` (as the extractor makes them) from now on."""
    counts = dict.fromkeys(names, 0)
    for name in names:
        real = getattr(os, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counted)
    return counts


def test_a_deep_tree_is_judged_and_given_its_modes_with_descriptors_opened_once(tmp_path, dest, monkeypatch):
    """Each directory is opened about once for the final judgement and the modes, not once per level above it."""
    depth = 200

    def build(tar):
        for level in range(1, depth + 1):
            add_special(tar, "d/" * level, tarfile.DIRTYPE, mode=0o750)
        add_special(tar, "d/" * depth + "up", tarfile.SYMTYPE, linkname="../" * depth + "d")

    src = build_tar(tmp_path / "deep.tgz", build)
    opened = count_calls(monkeypatch, "open")
    extract_archive(src, str(dest))
    assert opened["open"] < 6 * depth, opened
    assert stat.S_IMODE(os.lstat(str(dest / ("d/" * depth))).st_mode) == 0o750


# ---- the work of judging links is bounded -------------------------------------------------------------

def chains(tar, count, hops, detour, reverse=False):
    """``count`` chains of ``hops`` links, each climbing into ``detour`` missing names and back before the next."""
    detour_path = "z/" * detour + "../" * detour
    for chain in range(count):
        order = range(hops - 1, -1, -1) if reverse else range(hops)
        for hop in order:
            following = "c%d_%d" % (chain, hop + 1) if hop < hops - 1 else "."
            add_special(tar, "c%d_%d" % (chain, hop), tarfile.SYMTYPE, linkname=detour_path + following)


def test_chains_of_links_are_judged_with_work_linear_in_the_archive(tmp_path, dest, monkeypatch):
    count, hops, detour = 4, 40, 300
    src = build_tar(tmp_path / "chains.tgz", lambda t: chains(t, count, hops, detour))
    links = count * hops
    # each link's target is walked about twice (when it is made, when the tree is judged), never once per chain
    monkeypatch.setattr(_archive, "MAX_JUDGE_STEPS", 4 * links * (2 * detour + 1), raising=False)
    looked_up = count_calls(monkeypatch, "stat")
    assert extract_archive(src, str(dest))["members"] == links
    assert looked_up["stat"] < 5 * links, looked_up


def test_archive_too_costly_to_judge_is_refused(tmp_path, dest, monkeypatch):
    """Chains listed from their end: each new link is judged through the whole chain after it."""
    src = build_tar(tmp_path / "chains.tgz", lambda t: chains(t, 3, 40, 300, reverse=True))
    monkeypatch.setattr(_archive, "MAX_JUDGE_STEPS", 200000, raising=False)
    with pytest.raises(ArchiveError, match=r"archive is too costly to judge: where its links lead took more than "
                                           r"200000 lookups to find \(stopped at member 'c\d_\d+'\); refusing it"):
        extract_archive(src, str(dest))


# ---- tar headers are bounded before tarfile reads them ------------------------------------------------

def raw_header(name, kind, size):
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.USTAR_FORMAT)


def pax_record(key, value):
    """One pax record, ``"<length> <key>=<value>\\n"``, its length counting itself."""
    body = (" %s=%s\n" % (key, value)).encode()
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def write_raw_tar(path, blocks):
    """A tar.gz of raw header/data blobs, each padded to 512 bytes, then the end of archive."""
    with gzip.open(str(path), "wb") as out:
        for blob in blocks:
            out.write(blob + b"\0" * (-len(blob) % 512))
        out.write(b"\0" * 1024)
    return str(path)


def test_huge_pax_header_is_refused_before_it_is_read(tmp_path, dest):
    data = pax_record("path", "a" * (4 * 1024 * 1024))
    blocks = [raw_header("././@PaxHeader", tarfile.XHDTYPE, len(data)), data, raw_header("x", tarfile.REGTYPE, 0)]
    src = write_raw_tar(tmp_path / "pax.tgz", blocks)
    assert os.path.getsize(src) < 10 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as refused:
            extract_archive(src, str(dest), max_size=100, max_members=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (
        "archive has %d bytes of extended headers (pax, GNU long names) before one member: expected at most "
        "1048576; refusing it before reading them" % len(data)
    )
    assert peak < 1024 * 1024, peak


@pytest.mark.parametrize(
    "blocks, message",
    [
        ([raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 2 * 1024 * 1024), b"a" * (2 * 1024 * 1024)],
         "archive has 2097152 bytes of extended headers (pax, GNU long names) before one member"),
        ([raw_header("././@PaxHeader", tarfile.XHDTYPE, 600 * 1024), pax_record("comment", "c" * (600 * 1024 - 20)),
          raw_header("././@LongLink", tarfile.GNUTYPE_LONGLINK, 600 * 1024), b"a" * (600 * 1024)],
         "archive has 1228800 bytes of extended headers (pax, GNU long names) before one member"),
        ([blob for index in range(3) for blob in (
            raw_header("pax_global_header", tarfile.XGLTYPE, 400 * 1024),
            pax_record("comment%d" % index, "g" * (400 * 1024 - 30)),
            raw_header("f%d" % index, tarfile.REGTYPE, 0))],
         "archive has 1228800 bytes of global pax headers: expected at most 1048576"),
        ([blob for _index in range(20) for blob in (raw_header("././@PaxHeader", tarfile.XHDTYPE, 0),)],
         "archive has more than 16 extended headers (pax, GNU long names) in a row before a member"),
    ],
    ids=["gnu-long-name", "headers-adding-up", "global-headers-adding-up", "chain-of-headers"],
)
def test_extended_headers_past_their_bounds_are_refused(tmp_path, dest, blocks, message):
    src = write_raw_tar(tmp_path / "headers.tgz", blocks + [raw_header("x", tarfile.REGTYPE, 0)])
    with pytest.raises(ArchiveError) as refused:
        extract_archive(src, str(dest))
    assert str(refused.value).startswith(message), str(refused.value)


def test_member_with_a_negative_size_is_refused(tmp_path, dest):
    """tarfile would step back by it and read the same members again."""
    header = bytearray(raw_header("again", tarfile.REGTYPE, 0))
    header[124:136] = b"\xff" * 11 + b"\x00"  # base-256: -256
    header[148:156] = b" " * 8
    header[148:156] = ("%06o\0 " % sum(header)).encode()
    src = write_raw_tar(tmp_path / "neg.tgz", [raw_header("first", tarfile.REGTYPE, 0), bytes(header)])
    with pytest.raises(ArchiveError, match=r"archive member 'again' has a negative size \(-256\)"):
        extract_archive(src, str(dest))


def test_sparse_members_are_refused(tmp_path, dest):
    src = str(tmp_path / "sparse.tar")
    with tarfile.open(src, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("holes")
        info.type = tarfile.GNUTYPE_SPARSE
        tar.addfile(info)
    with pytest.raises(ArchiveError, match=r"archive member 'holes' is a sparse file: expected files, directories and links"):
        extract_archive(src, str(dest))
    assert os.listdir(str(dest)) == []


def test_pax_sparse_map_is_refused_before_it_is_read(tmp_path, dest):
    """GNU sparse 1.0 keeps its map in the member's data, which tarfile would read whole, however long."""
    assert hasattr(tarfile.TarInfo, "_proc_gnusparse_10")  # the hook the refusal relies on
    data = b"".join(pax_record(key, value) for key, value in (
        ("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "holes"), ("GNU.sparse.realsize", "10")))
    src = write_raw_tar(tmp_path / "sparse.tgz", [
        raw_header("././@PaxHeader", tarfile.XHDTYPE, len(data)), data,
        raw_header("GNUSparseFile.0/holes", tarfile.REGTYPE, 1024 * 1024), b"99999999\n" + b"1\n" * 300000])
    with pytest.raises(ArchiveError, match=r"archive member 'holes' is a sparse file"):
        extract_archive(src, str(dest))


def test_tarfile_does_not_keep_every_member_read(tmp_path, dest):
    """Each member tarfile reads (with its pax headers, 16 KiB here) is let go once extracted."""
    src = str(tmp_path / "many.tgz")
    with tarfile.open(src, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for index in range(600):
            info = tarfile.TarInfo("f%d" % index)
            info.pax_headers = {"comment": "%d" % index + "c" * 16 * 1024}
            tar.addfile(info, io.BytesIO(b""))
    tracemalloc.start()
    try:
        extract_archive(src, str(dest))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # 600 members of 16 KiB each would be 9.6 MiB


# ---- modes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_world_writable_and_sticky_bits_are_dropped(tmp_path, dest, kind):
    if kind == "tar":
        def build(tar):
            add_special(tar, "shared", tarfile.DIRTYPE, mode=0o1777)
            add_file(tar, "shared/run.sh", b"#!/bin/sh\n", mode=0o6777)

        src = build_tar(tmp_path / "modes.tgz", build)
    else:
        src = str(tmp_path / "modes.zip")
        with zipfile.ZipFile(src, "w") as archive:
            folder = zipfile.ZipInfo("shared/")
            folder.external_attr = (stat.S_IFDIR | 0o1777) << 16
            archive.writestr(folder, b"")
            script = zipfile.ZipInfo("shared/run.sh")
            script.external_attr = (stat.S_IFREG | 0o6777) << 16
            archive.writestr(script, b"#!/bin/sh\n")
    extract_archive(src, str(dest))
    assert stat.S_IMODE(os.lstat(str(dest / "shared")).st_mode) == 0o775
    assert stat.S_IMODE(os.lstat(str(dest / "shared" / "run.sh")).st_mode) == 0o775
