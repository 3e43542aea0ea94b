# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release.checksum import (
    ChecksumError,
    fetch_verified,
    file_digest,
    file_digests,
    is_sums_url,
    parse_checksum,
    parse_sums_file,
    resolve_checksum,
    sums_file_algorithm,
    url_basename,
    verify_file,
)

CONTENT = b"release payload\n" * 1000
SHA256 = hashlib.sha256(CONTENT).hexdigest()
SHA512 = hashlib.sha512(CONTENT).hexdigest()
OTHER256 = hashlib.sha256(b"other").hexdigest()


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "app-1.0.tar.gz"
    path.write_bytes(CONTENT)
    return str(path)


def no_fetch(url):
    raise AssertionError("nothing should be fetched, got %s" % url)


# parse_checksum

def test_parse_checksum_sha256():
    assert parse_checksum("sha256:" + SHA256) == ("sha256", SHA256)


def test_parse_checksum_sha512_uppercase_hex_and_algorithm():
    assert parse_checksum("SHA512:" + SHA512.upper()) == ("sha512", SHA512)


def test_parse_checksum_strips_whitespace():
    assert parse_checksum("  sha256:%s\n" % SHA256) == ("sha256", SHA256)


def test_parse_checksum_wrong_length_names_value_and_needed_length():
    with pytest.raises(ChecksumError) as err:
        parse_checksum("sha256:" + SHA256[:-1])
    message = str(err.value)
    assert "sha256:" + SHA256[:-1] in message
    assert "63 hex digits" in message and "needs 64" in message


def test_parse_checksum_sha512_with_sha256_length():
    with pytest.raises(ChecksumError, match="needs 128"):
        parse_checksum("sha512:" + SHA256)


@pytest.mark.parametrize("spec", ["md5:d41d8cd98f00b204e9800998ecf8427e", SHA256, "sha256:" + "g" * 64, "", "sha256-" + SHA256])
def test_parse_checksum_rejects_unknown_forms_naming_value_and_forms(spec):
    with pytest.raises(ChecksumError) as err:
        parse_checksum(spec)
    assert repr(spec) in str(err.value)
    assert "sha256:<64 hex digits>" in str(err.value)


def test_is_sums_url():
    assert is_sums_url("https://example.com/SHA256SUMS")
    assert is_sums_url("HTTP://example.com/SHA256SUMS")
    assert not is_sums_url("sha256:" + SHA256)
    assert not is_sums_url("/srv/SHA256SUMS")


def test_sums_file_algorithm_from_name():
    assert sums_file_algorithm("SHA512SUMS") == "sha512"
    assert sums_file_algorithm("/x/app.sha256sum") == "sha256"
    assert sums_file_algorithm("SHA-512SUMS") == "sha512"
    assert sums_file_algorithm("checksums.txt") is None


# parse_sums_file

def test_sums_gnu_text_and_binary_markers():
    text = "%s  other.tar.gz\n%s *app-1.0.tar.gz\n" % (OTHER256, SHA256)
    assert parse_sums_file(text, "app-1.0.tar.gz") == SHA256
    assert parse_sums_file(text, "other.tar.gz") == OTHER256


def test_sums_dot_slash_comments_blank_lines_and_crlf():
    text = "# release 1.0\r\n\r\n%s  ./app-1.0.tar.gz\r\n" % SHA256.upper()
    assert parse_sums_file(text, "app-1.0.tar.gz") == SHA256


def test_sums_bsd_style():
    text = "SHA256 (other.zip) = %s\nSHA256 (app-1.0.tar.gz) = %s\n" % (OTHER256, SHA256)
    assert parse_sums_file(text, "app-1.0.tar.gz") == SHA256


def test_sums_bsd_style_sha512():
    assert parse_sums_file("SHA512 (app.zip) = %s\n" % SHA512, "app.zip") == SHA512


def test_sums_entry_in_subdirectory_matches_basename():
    assert parse_sums_file("%s  dist/app-1.0.tar.gz\n" % SHA256, "app-1.0.tar.gz") == SHA256


def test_sums_does_not_match_name_prefix():
    with pytest.raises(ChecksumError):
        parse_sums_file("%s  app-1.0.tar.gz.sig\n" % SHA256, "app-1.0.tar.gz")


def test_sums_escaped_gnu_name():
    text = "\\%s  dir\\\\app.tar.gz\n" % SHA256
    assert parse_sums_file(text, "dir\\app.tar.gz") == SHA256


def test_sums_missing_entry_names_file_and_what_is_listed():
    with pytest.raises(ChecksumError) as err:
        parse_sums_file("%s  other.tar.gz\n" % OTHER256, "app-1.0.tar.gz")
    assert "app-1.0.tar.gz is not listed" in str(err.value)
    assert "other.tar.gz" in str(err.value)


def test_sums_empty_file():
    with pytest.raises(ChecksumError, match="lists: nothing"):
        parse_sums_file("# nothing here\n", "app.zip")


def test_sums_listed_twice_with_different_digests():
    text = "%s  app.zip\n%s  ./app.zip\n" % (SHA256, OTHER256)
    with pytest.raises(ChecksumError) as err:
        parse_sums_file(text, "app.zip")
    assert "app.zip is listed 2 times" in str(err.value)
    assert SHA256 in str(err.value) and OTHER256 in str(err.value)


def test_sums_listed_twice_with_same_digest_is_fine():
    assert parse_sums_file("%s  app.zip\n%s *./app.zip\n" % (SHA256, SHA256), "app.zip") == SHA256


# digests and verification

def test_file_digest_matches_hashlib_with_small_chunks(artifact):
    assert file_digest(artifact, "sha256", chunk=7) == SHA256
    assert file_digests(artifact, ["sha256", "sha512"]) == {"sha256": SHA256, "sha512": SHA512}


def test_file_digest_missing_file_names_path(tmp_path):
    missing = str(tmp_path / "nope.tar.gz")
    with pytest.raises(ChecksumError, match="cannot read %s" % missing):
        file_digest(missing, "sha256")


def test_file_digest_unknown_algorithm(artifact):
    with pytest.raises(ChecksumError, match="'md5'"):
        file_digest(artifact, "md5")


def test_verify_file_ok(artifact):
    assert verify_file(artifact, "sha512:" + SHA512) == SHA512


def test_verify_file_mismatch_names_path_expected_and_actual(artifact):
    with pytest.raises(ChecksumError) as err:
        verify_file(artifact, "sha256:" + OTHER256)
    message = str(err.value)
    assert artifact in message
    assert "expected sha256:" + OTHER256 in message
    assert "got sha256:" + SHA256 in message


# resolve_checksum

def test_resolve_inline_spec_does_not_fetch():
    assert resolve_checksum("sha256:" + SHA256, "app.zip", no_fetch) == ("sha256", SHA256)


def test_resolve_sums_url_uses_fetched_text_and_name_algorithm():
    fetched = []

    def fetch(url):
        fetched.append(url)
        return "%s  app.zip\n" % SHA512

    assert resolve_checksum("https://x.test/1.0/SHA512SUMS", "app.zip", fetch) == ("sha512", SHA512)
    assert fetched == ["https://x.test/1.0/SHA512SUMS"]


def test_resolve_sums_url_algorithm_name_and_digest_length_disagree():
    with pytest.raises(ChecksumError, match="sha256 needs 64"):
        resolve_checksum("https://x.test/SHA256SUMS", "app.zip", lambda url: "%s  app.zip\n" % SHA512)


def test_resolve_local_sums_file_infers_algorithm_from_length(tmp_path):
    sums = tmp_path / "checksums.txt"
    sums.write_text("%s  app.zip\n" % SHA512)
    assert resolve_checksum(str(sums), "app.zip", no_fetch) == ("sha512", SHA512)


def test_resolve_missing_local_sums_file_names_path(tmp_path):
    missing = str(tmp_path / "SHA256SUMS")
    with pytest.raises(ChecksumError, match="cannot read checksum file %s" % missing):
        resolve_checksum(missing, "app.zip", no_fetch)


def test_resolve_garbage_names_value_and_forms():
    with pytest.raises(ChecksumError) as err:
        resolve_checksum("crc32:1234", "app.zip", no_fetch)
    assert "'crc32:1234'" in str(err.value) and "SHA256SUMS" in str(err.value)


def test_url_basename():
    assert url_basename("https://x.test/a/app%201.0.tar.gz?token=1") == "app 1.0.tar.gz"
    with pytest.raises(ChecksumError, match="does not end in a file name"):
        url_basename("https://x.test/a/")


# fetch_verified

def _writer(payload, calls):
    def download(url, path):
        calls.append((url, path))
        with open(path, "wb") as handle:
            handle.write(payload)
    return download


def test_fetch_verified_downloads_then_reuses_cache(tmp_path):
    calls = []
    dest = str(tmp_path / "cache")
    path, downloaded = fetch_verified("http://x.test/app.tar.gz", dest, "sha256", SHA256, _writer(CONTENT, calls))
    assert (path, downloaded) == (os.path.join(dest, "app.tar.gz"), True)
    assert file_digest(path, "sha256") == SHA256
    assert os.path.dirname(calls[0][1]) == dest and calls[0][1] != path
    again = fetch_verified("http://x.test/app.tar.gz", dest, "sha256", SHA256, _writer(CONTENT, calls))
    assert again == (path, False)
    assert len(calls) == 1
    assert os.listdir(dest) == ["app.tar.gz"]


def test_fetch_verified_replaces_stale_cached_copy(tmp_path):
    (tmp_path / "app.tar.gz").write_bytes(b"stale")
    calls = []
    path, downloaded = fetch_verified("http://x.test/app.tar.gz", str(tmp_path), "sha256", SHA256, _writer(CONTENT, calls))
    assert downloaded and len(calls) == 1
    assert file_digest(path, "sha256") == SHA256


def test_fetch_verified_bad_download_leaves_no_file(tmp_path):
    with pytest.raises(ChecksumError) as err:
        fetch_verified("http://x.test/app.tar.gz", str(tmp_path), "sha256", SHA256, _writer(b"tampered", []))
    assert "http://x.test/app.tar.gz" in str(err.value)
    assert "expected sha256:" + SHA256 in str(err.value)
    assert os.listdir(str(tmp_path)) == []


def test_fetch_verified_without_checksum_always_downloads(tmp_path):
    calls = []
    fetch_verified("http://x.test/app.zip", str(tmp_path), None, None, _writer(CONTENT, calls))
    path, downloaded = fetch_verified("http://x.test/app.zip", str(tmp_path), None, None, _writer(CONTENT, calls))
    assert downloaded and len(calls) == 2


def test_fetch_verified_failed_download_removes_temp_file(tmp_path):
    def broken(url, path):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError, match="connection dropped"):
        fetch_verified("http://x.test/app.zip", str(tmp_path), "sha256", SHA256, broken)
    assert os.listdir(str(tmp_path)) == []
