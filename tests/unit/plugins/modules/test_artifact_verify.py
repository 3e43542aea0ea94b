# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""artifact_verify on local files and on real downloads from a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.artifact_verify import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

NAME = "shop-1.0.0.tar.gz"


def make_release(path):
    with tarfile.open(str(path), "w:gz") as archive:
        payload = b"#!/bin/sh\necho shop 1.0.0\n"
        info = tarfile.TarInfo("shop-1.0.0/bin/shop")
        info.size = len(payload)
        info.mode = 0o755
        archive.addfile(info, io.BytesIO(payload))
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()


@pytest.fixture
def release(tmp_path):
    published = tmp_path / "published"
    published.mkdir()
    sha256, sha512 = make_release(published / NAME)
    (published / "SHA256SUMS").write_text("%s  other.zip\n%s  %s\n" % ("0" * 64, sha256, NAME))
    (published / "SHA512SUMS").write_text("%s *%s\n" % (sha512, NAME))
    (published / "BADSUMS").write_text("%s  %s\n" % ("1" * 64, NAME))
    return dict(dir=published, path=str(published / NAME), sha256=sha256, sha512=sha512)


@pytest.fixture
def server(release):
    with LocalServer(files_dir=str(release["dir"])) as running:
        yield running


# local artifacts

def test_local_artifact_inline_sha256(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], checksum="sha256:" + release["sha256"].upper()), capsys)
    assert rc == 0, result
    assert result["changed"] is False and result["downloaded"] is False
    assert result["path"] == release["path"]
    assert result["checksum"] == "sha256:" + release["sha256"]
    assert result["algorithm"] == "sha256" and result["verified"] is True
    assert result["size"] == os.path.getsize(release["path"])


def test_local_artifact_sha512_still_returns_sha256(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], checksum="sha512:" + release["sha512"]), capsys)
    assert rc == 0, result
    assert result["algorithm"] == "sha512"
    assert result["checksum"] == "sha256:" + release["sha256"]


def test_local_sums_file(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], checksum=str(release["dir"] / "SHA512SUMS")), capsys)
    assert rc == 0, result
    assert result["algorithm"] == "sha512"


def test_local_artifact_wrong_checksum_names_path_expected_actual(release, capsys):
    wrong = "a" * 64
    rc, result = run_in_process(main, dict(path=release["path"], checksum="sha256:" + wrong), capsys)
    assert rc == 1
    assert result["msg"] == "checksum mismatch for %s: expected sha256:%s, got sha256:%s" % (
        release["path"], wrong, release["sha256"])


def test_missing_local_artifact_names_path(tmp_path, capsys):
    missing = str(tmp_path / NAME)
    rc, result = run_in_process(main, dict(path=missing, checksum="sha256:" + "a" * 64), capsys)
    assert rc == 1
    assert result["msg"] == "artifact %s does not exist or is not a file" % missing


def test_unsupported_archive_names_value(tmp_path, capsys):
    jar = tmp_path / "shop.jar"
    jar.write_bytes(b"x")
    rc, result = run_in_process(main, dict(path=str(jar), checksum="sha256:" + "a" * 64), capsys)
    assert rc == 1
    assert str(jar) in result["msg"] and ".tar.gz, .tgz, .zip" in result["msg"]


def test_bad_checksum_spec_names_value(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], checksum="md5:abc"), capsys)
    assert rc == 1
    assert "'md5:abc'" in result["msg"]


def test_no_checksum_fails_unless_allowed(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"]), capsys)
    assert rc == 1
    assert result["msg"].startswith("no checksum for %s" % release["path"])
    rc, result = run_in_process(main, dict(path=release["path"], allow_unverified=True), capsys)
    assert rc == 0, result
    assert result["verified"] is False and result["algorithm"] is None
    assert result["checksum"] == "sha256:" + release["sha256"]
    # ansible-core 2.19 returns warnings as structured summaries, older releases as strings
    assert "artifact %s is used unverified" % release["path"] in json.dumps(result["warnings"])


def test_path_and_url_are_exclusive(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], url="http://x.test/" + NAME), capsys)
    assert rc == 1
    assert "mutually exclusive" in result["msg"]


# downloads

def test_a_release_id_unpacked_from_other_bytes_is_refused_naming_hosts_and_checksums(release, capsys):
    mine = "sha256:" + release["sha256"]
    theirs = "sha256:" + "a" * 64
    rc, result = run_in_process(main, dict(path=release["path"], checksum=mine, release="1.0.0",
                                           unpacked={"web2": theirs, "web1": mine, "web3": None}), capsys)
    assert rc == 1 and result["failed"], result
    assert result["msg"].startswith("release 1.0.0 is already unpacked from another artifact on web2 (%s), " % theirs)
    assert "the artifact of this run has checksum %s" % mine in result["msg"]
    assert "web1" not in result["msg"] and "web3" not in result["msg"]


def test_the_same_bytes_under_their_release_id_pass(release, capsys):
    mine = "sha256:" + release["sha256"]
    rc, result = run_in_process(main, dict(path=release["path"], checksum=mine, release="1.0.0",
                                           unpacked={"web1": mine, "web2": ""}), capsys)
    assert rc == 0 and result["checksum"] == mine, result


def test_unpacked_needs_the_release_id(release, capsys):
    rc, result = run_in_process(main, dict(path=release["path"], checksum="sha256:" + release["sha256"],
                                           unpacked={"web1": "sha256:" + "a" * 64}), capsys)
    assert rc == 1 and "release" in result["msg"] and "unpacked" in result["msg"], result


def test_download_with_sums_url_then_cached(server, release, tmp_path, capsys):
    dest = tmp_path / "cache"
    args = dict(url=server.url("/files/" + NAME), checksum=server.url("/files/SHA256SUMS"), dest=str(dest))
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert result["changed"] is True and result["downloaded"] is True
    assert result["path"] == str(dest / NAME)
    assert (dest / NAME).read_bytes() == open(release["path"], "rb").read()
    assert result["checksum"] == "sha256:" + release["sha256"]
    assert sorted(os.listdir(str(dest))) == [NAME]
    assert server.counts["/files/" + NAME] == 1

    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert result["changed"] is False and result["downloaded"] is False
    assert server.counts["/files/" + NAME] == 1


def test_check_mode_still_downloads_into_the_cache(server, release, tmp_path, capsys):
    dest = tmp_path / "cache"
    args = dict(url=server.url("/files/" + NAME), checksum="sha512:" + release["sha512"], dest=str(dest))
    rc, result = run_in_process(main, args, capsys, check_mode=True)
    assert rc == 0, result
    assert result["changed"] is True and result["algorithm"] == "sha512"
    assert (dest / NAME).is_file()


def test_download_with_wrong_sums_leaves_nothing(server, release, tmp_path, capsys):
    dest = tmp_path / "cache"
    url = server.url("/files/" + NAME)
    rc, result = run_in_process(main, dict(url=url, checksum=server.url("/files/BADSUMS"), dest=str(dest)), capsys)
    assert rc == 1
    assert result["msg"] == "checksum mismatch for %s: expected sha256:%s, got sha256:%s" % (
        url, "1" * 64, release["sha256"])
    assert os.listdir(str(dest)) == []


def test_download_missing_url_names_it(server, tmp_path, capsys):
    url = server.url("/files/shop-9.9.9.tar.gz")
    rc, result = run_in_process(main, dict(url=url, checksum="sha256:" + "a" * 64, dest=str(tmp_path)), capsys)
    assert rc == 1
    assert result["msg"] == "cannot download %s: status 404 (expected 200)" % url


def test_sums_url_without_entry_names_artifact(server, tmp_path, capsys):
    url = server.url("/files/shop-2.0.0.tar.gz")
    rc, result = run_in_process(main, dict(url=url, checksum=server.url("/files/SHA256SUMS"), dest=str(tmp_path)), capsys)
    assert rc == 1
    assert result["msg"].startswith("shop-2.0.0.tar.gz is not listed in the checksum file")


def test_download_through_ansible_cli(server, release, tmp_path):
    dest = tmp_path / "cache"
    args = dict(url=server.url("/files/" + NAME), checksum=server.url("/files/SHA512SUMS"), dest=str(dest))
    rc, result = run_ansible("artifact_verify", args)
    assert rc == 0, result
    assert result["changed"] is True and result["algorithm"] == "sha512"
    assert result["path"] == str(dest / NAME)
    rc, result = run_ansible("artifact_verify", args)
    assert rc == 0 and result["changed"] is False
