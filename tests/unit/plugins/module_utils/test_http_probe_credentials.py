# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloads with credentials and a private CA, against a real server on 127.0.0.1."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import (
    CertificateError,
    ProbeError,
    clean_headers,
    download,
    fetch_text,
    probe,
    same_origin,
    split_credentials,
    tls_verify,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca

TOKEN = "tok-3f9a1c27d4"
USER, PASSWORD = "deployer", "pw-b81e55"


@pytest.fixture
def files(tmp_path):
    published = tmp_path / "published"
    published.mkdir()
    (published / "app.tar.gz").write_bytes(b"\x1f\x8b" + b"x" * 5000)
    (published / "SHA256SUMS").write_text("abc  app.tar.gz\n")
    return published


@pytest.fixture
def tls(tmp_path):
    pytest.importorskip("cryptography")
    return private_ca(str(tmp_path))


@pytest.fixture
def server(files, tls):
    with AuthServer(files_dir=str(files), token=TOKEN, basic=(USER, PASSWORD), tls=tls) as running:
        yield running


# pure helpers

def test_clean_headers_strips_and_stringifies():
    assert clean_headers({"Authorization": "  Bearer x \n", "X-Try": 3}) == {"Authorization": "Bearer x", "X-Try": "3"}
    assert clean_headers({}) is None and clean_headers(None) is None


@pytest.mark.parametrize("headers, named", [
    ({"Authorization": "Bearer abc\r\nX-Evil: 1"}, "'Authorization'"),
    ({"X-Token": "a\0b"}, "'X-Token'"),
])
def test_clean_headers_refuses_line_breaks_without_showing_the_value(headers, named):
    with pytest.raises(ProbeError) as caught:
        clean_headers(headers)
    assert named in str(caught.value) and "value not shown" in str(caught.value)
    assert "abc" not in str(caught.value) and "a\0b" not in str(caught.value)


def test_clean_headers_refuses_bad_names():
    with pytest.raises(ProbeError, match="header name 'Bad Name' is not a valid HTTP header name"):
        clean_headers({"Bad Name": "x"})


def test_split_credentials():
    assert split_credentials("https://u:p%40ss@h.test:8443/a.tgz") == ("https://h.test:8443/a.tgz", "u", "p@ss")
    assert split_credentials("https://u@h.test/a.tgz") == ("https://h.test/a.tgz", "u", None)
    assert split_credentials("https://h.test/a.tgz") == ("https://h.test/a.tgz", None, None)


def test_same_origin():
    assert same_origin("https://h.test/a.tgz", "https://H.test:443/SHA256SUMS")
    assert not same_origin("https://h.test/a.tgz", "https://other.test/SHA256SUMS")
    assert not same_origin("https://h.test/a.tgz", "http://h.test/SHA256SUMS")
    assert not same_origin("https://h.test/a.tgz", "https://h.test:8443/SHA256SUMS")


def test_tls_verify(tmp_path):
    assert tls_verify(True) is True and tls_verify(False, "/nowhere") is False
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert tls_verify(True, str(ca)) == str(ca)
    with pytest.raises(ProbeError, match="ca_path /nowhere/ca.pem does not exist"):
        tls_verify(True, "/nowhere/ca.pem")


# real downloads

def test_private_ca_refused_by_default_with_the_reason(server, tmp_path):
    target = tmp_path / "copy.tgz"
    with pytest.raises(CertificateError) as caught:
        download(server.url("/files/app.tar.gz"), str(target), 5, headers={"Authorization": "Bearer " + TOKEN})
    assert str(caught.value).startswith("cannot download %s: TLS error: certificate verification failed: " % server.url("/files/app.tar.gz"))
    assert "local issuer" in str(caught.value) or "self-signed" in str(caught.value)
    assert server.requests_to("/files/") == [], "a request went out over an unverified connection"
    assert not target.exists()


def test_probe_names_certificate_failure(server):
    result = probe(server.url("/health"), timeout=5)
    assert not result.ok and result.error.startswith("TLS error: certificate verification failed: ")


def test_bearer_token_download_with_ca_path(server, tls, files, tmp_path):
    target = tmp_path / "copy.tgz"
    size = download(server.url("/files/app.tar.gz"), str(target), 5, headers={"Authorization": "Bearer " + TOKEN},
                    ca_path=tls.ca)
    assert size == 5002 and target.read_bytes() == (files / "app.tar.gz").read_bytes()
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Bearer " + TOKEN


def test_basic_auth_fetch_with_ca_path(server, tls):
    text = fetch_text(server.url("/files/SHA256SUMS"), 5, auth=(USER, PASSWORD), ca_path=tls.ca)
    assert text == "abc  app.tar.gz\n"
    sent = server.requests_to("/files/")[-1].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()


def test_missing_and_wrong_credentials_are_told_apart(server, tls, tmp_path):
    url = server.url("/files/app.tar.gz")
    with pytest.raises(ProbeError, match="status 401 .*asks for credentials and none were sent"):
        download(url, str(tmp_path / "x"), 5, ca_path=tls.ca)
    with pytest.raises(ProbeError, match="status 401 .*refused the credentials sent") as caught:
        download(url, str(tmp_path / "x"), 5, auth=(USER, "wrong-pw-77"), ca_path=tls.ca)
    assert "wrong-pw-77" not in str(caught.value)


def test_validate_certs_off_ignores_the_ca(server, tmp_path):
    size = download(server.url("/files/app.tar.gz"), str(tmp_path / "x"), 5, validate_certs=False,
                    headers={"Authorization": "Bearer " + TOKEN})
    assert size == 5002
