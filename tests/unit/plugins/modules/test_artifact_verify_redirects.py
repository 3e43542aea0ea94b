# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""artifact_verify through redirects: an HTTPS artifact server with a private CA that wants
credentials and redirects the artifact and its SHA256SUMS to a second, plain-http origin."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.artifact_verify import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca, without_environment_credentials
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

NAME = "shop-1.0.0.tar.gz"
TOKEN, PRIVATE_TOKEN = "art-41f0c9d2e7", "glpat-0d93be6a12"
USER, PASSWORD = "deployer", "pw-7e1ac350"
BASIC = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
SECRETS = (TOKEN, PRIVATE_TOKEN, PASSWORD, BASIC)


@pytest.fixture(autouse=True)
def no_environment_credentials(monkeypatch, tmp_path):
    without_environment_credentials(monkeypatch, tmp_path)


@pytest.fixture
def published(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    data = b"\x1f\x8b" + bytes(range(256)) * 24
    (folder / NAME).write_bytes(data)
    (folder / "SHA256SUMS").write_text("%s  %s\n" % (hashlib.sha256(data).hexdigest(), NAME))
    return dict(dir=str(folder), data=data)


@pytest.fixture
def tls(tmp_path):
    pytest.importorskip("cryptography")
    return private_ca(str(tmp_path))


def module_args(first, tls, tmp_path):
    return dict(
        url=first.url("/releases/" + NAME),
        checksum=first.url("/releases/SHA256SUMS"),
        headers={"X-JFrog-Art-Api": TOKEN, "PRIVATE-TOKEN": PRIVATE_TOKEN},
        url_username=USER,
        url_password=PASSWORD,
        ca_path=tls.ca,
        dest=str(tmp_path / "cache"),
    )


def secrets_in(seen):
    return sorted({secret for request in seen for value in request.headers.values() for secret in SECRETS if secret in value})


@pytest.mark.parametrize("status", [302, 307])
def test_the_second_origin_never_sees_the_credentials(status, published, tls, tmp_path, capsys):
    with AuthServer(files_dir=published["dir"]) as mirror, AuthServer(basic=(USER, PASSWORD), tls=tls) as first:
        first.redirects["/releases/" + NAME] = (status, mirror.url("/files/" + NAME))
        first.redirects["/releases/SHA256SUMS"] = (status, mirror.url("/files/SHA256SUMS"))
        rc, result = run_in_process(main, module_args(first, tls, tmp_path), capsys)
        assert rc == 0, result
        assert [s.path for s in first.seen] == ["/releases/SHA256SUMS", "/releases/" + NAME]
        assert [s.path for s in mirror.seen] == ["/files/SHA256SUMS", "/files/" + NAME]
        at_first = [{k.lower(): v for k, v in s.headers.items()} for s in first.seen]
        assert secrets_in(mirror.seen) == [], "the plain-http mirror received a credential"
    assert all(h["x-jfrog-art-api"] == TOKEN and h["private-token"] == PRIVATE_TOKEN and h["authorization"] == "Basic " + BASIC
               for h in at_first)
    assert result["verified"] is True and result["downloaded"] is True and result["algorithm"] == "sha256"
    assert result["checksum"] == "sha256:" + hashlib.sha256(published["data"]).hexdigest()
    assert (tmp_path / "cache" / NAME).read_bytes() == published["data"]
    assert not any(secret in json.dumps(result) for secret in SECRETS)


def test_a_mirror_that_wants_credentials_is_told_they_were_not_forwarded(published, tls, tmp_path, capsys):
    with AuthServer(files_dir=published["dir"], basic=(USER, PASSWORD), address="127.0.0.2") as mirror, \
            AuthServer(basic=(USER, PASSWORD), tls=tls) as first:
        first.redirects["/releases/SHA256SUMS"] = (302, mirror.url("/files/SHA256SUMS"))
        rc, result = run_in_process(main, module_args(first, tls, tmp_path), capsys)
        assert secrets_in(mirror.seen) == []
    assert rc == 1
    assert result["msg"] == (
        "cannot fetch %s (redirected to %s): status 401 (expected 200): credentials were not forwarded across "
        "origins (from %s to %s)" % (first.url("/releases/SHA256SUMS"), mirror.url("/files/SHA256SUMS"), first.origin, mirror.origin)
    )
    assert not (tmp_path / "cache" / NAME).exists()
    assert not any(secret in json.dumps(result) for secret in SECRETS)


def test_through_ansible_cli(published, tls, tmp_path):
    with AuthServer(files_dir=published["dir"]) as mirror, AuthServer(basic=(USER, PASSWORD), tls=tls) as first:
        first.redirects["/releases/" + NAME] = (301, mirror.url("/files/" + NAME))
        first.redirects["/releases/SHA256SUMS"] = (308, mirror.url("/files/SHA256SUMS"))
        rc, result = run_ansible("artifact_verify", module_args(first, tls, tmp_path))
        assert rc == 0, result
        assert len(first.seen) == 2 and len(mirror.seen) == 2
        assert secrets_in(first.seen) == sorted((TOKEN, PRIVATE_TOKEN, BASIC))  # the password goes base64-encoded
        assert secrets_in(mirror.seen) == []
    assert result["changed"] is True and result["verified"] is True
    assert not any(secret in json.dumps(result) for secret in SECRETS)
