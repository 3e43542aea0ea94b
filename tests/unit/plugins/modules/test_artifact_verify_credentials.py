# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""artifact_verify against a real HTTPS server on 127.0.0.1 that wants credentials, signed by a private CA."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.artifact_verify import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

NAME = "shop-1.0.0.tar.gz"
TOKEN = "tok-a7c3e91f05"
USER, PASSWORD = "deployer", "pw-2d8b6f41"
SECRETS = (TOKEN, PASSWORD, base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode())


@pytest.fixture
def published(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    data = b"\x1f\x8b" + bytes(range(256)) * 20
    (folder / NAME).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / "SHA256SUMS").write_text("%s  %s\n" % (digest, NAME))
    return dict(dir=folder, sha256=digest, data=data)


@pytest.fixture
def tls(tmp_path):
    pytest.importorskip("cryptography")
    return private_ca(str(tmp_path))


@pytest.fixture
def server(published, tls):
    with AuthServer(files_dir=str(published["dir"]), token=TOKEN, basic=(USER, PASSWORD), tls=tls) as running:
        yield running


def assert_no_secret(result):
    text = json.dumps(result)
    for secret in SECRETS:
        assert secret not in text, "%s shown in %s" % (secret, text)


def test_self_signed_chain_is_refused_by_default_naming_the_reason(server, published, tmp_path, capsys):
    url = server.url("/files/" + NAME)
    args = dict(url=url, checksum="sha256:" + published["sha256"], dest=str(tmp_path / "cache"),
                headers={"Authorization": "Bearer " + TOKEN})
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert result["msg"].startswith("cannot download %s: TLS error: certificate verification failed: " % url)
    assert "give that CA's certificate with ca_path" in result["msg"]
    assert server.requests_to("/files/") == []
    assert not (tmp_path / "cache" / NAME).exists()
    assert_no_secret(result)


def test_bearer_token_and_ca_path(server, published, tls, tmp_path, capsys):
    dest = tmp_path / "cache"
    args = dict(url=server.url("/files/" + NAME), checksum="sha256:" + published["sha256"], dest=str(dest),
                headers={"Authorization": "Bearer " + TOKEN}, ca_path=tls.ca)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert result["downloaded"] is True and (dest / NAME).read_bytes() == published["data"]
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Bearer " + TOKEN
    assert result["invocation"]["module_args"]["headers"] == {"Authorization": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert_no_secret(result)


def test_basic_auth_also_for_a_sums_file_on_the_same_server(server, published, tls, tmp_path, capsys):
    args = dict(url=server.url("/files/" + NAME), checksum=server.url("/files/SHA256SUMS"), dest=str(tmp_path / "c"),
                url_username=USER, url_password=PASSWORD, ca_path=tls.ca)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert [s.path for s in server.requests_to("/files/")] == ["/files/SHA256SUMS", "/files/" + NAME]
    assert {s.headers["Authorization"] for s in server.requests_to("/files/")} == {"Basic " + SECRETS[2]}
    assert_no_secret(result)


def test_credentials_in_the_url_are_used_and_hidden(server, published, tls, tmp_path, capsys):
    url = server.url("/files/" + NAME).replace("https://", "https://%s:%s@" % (USER, PASSWORD))
    args = dict(url=url, checksum="sha256:" + published["sha256"], dest=str(tmp_path / "c"), ca_path=tls.ca)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Basic " + SECRETS[2]
    assert result["path"].endswith("/" + NAME)
    assert_no_secret(result)


def test_credentials_are_not_sent_to_a_sums_file_elsewhere(server, published, tls, tmp_path, capsys):
    with AuthServer(files_dir=str(published["dir"])) as elsewhere:
        args = dict(url=server.url("/files/" + NAME), checksum=elsewhere.url("/files/SHA256SUMS"), dest=str(tmp_path / "c"),
                    headers={"Authorization": "Bearer " + TOKEN}, ca_path=tls.ca)
        rc, result = run_in_process(main, args, capsys)
        assert rc == 0, result
        assert "Authorization" not in elsewhere.requests_to("/files/")[-1].headers
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Bearer " + TOKEN


def test_wrong_password_is_refused_without_showing_it(server, published, tls, tmp_path, capsys):
    args = dict(url=server.url("/files/" + NAME), checksum="sha256:" + published["sha256"], dest=str(tmp_path / "c"),
                url_username=USER, url_password="pw-wrong-0042", ca_path=tls.ca)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert "status 401 (expected 200): the server refused the credentials sent" in result["msg"]
    assert "pw-wrong-0042" not in json.dumps(result)


def test_password_needs_a_user(server, published, tmp_path, capsys):
    args = dict(url=server.url("/files/" + NAME), checksum="sha256:" + published["sha256"], url_password=PASSWORD)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert "url_password" in result["msg"] and "url_username" in result["msg"]
    assert_no_secret(result)


def test_missing_ca_path_is_named(server, published, tmp_path, capsys):
    missing = str(tmp_path / "no-ca.pem")
    args = dict(url=server.url("/files/" + NAME), checksum="sha256:" + published["sha256"], ca_path=missing)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert result["msg"].startswith("ca_path %s does not exist" % missing)


def test_through_ansible_cli(server, published, tls, tmp_path):
    args = dict(url=server.url("/files/" + NAME), checksum="sha256:" + published["sha256"], dest=str(tmp_path / "c"),
                headers={"Authorization": "Bearer " + TOKEN}, ca_path=tls.ca)
    rc, result = run_ansible("artifact_verify", args)
    assert rc == 0, result
    assert result["changed"] is True
    assert_no_secret(result)


def test_credentials_in_a_sums_url_are_used_and_hidden(server, published, tls, tmp_path, capsys):
    sums = server.url("/files/SHA256SUMS").replace("https://", "https://%s:%s@" % (USER, PASSWORD))
    args = dict(path=str(published["dir"] / NAME), checksum=sums, ca_path=tls.ca)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert result["verified"] is True
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Basic " + SECRETS[2]
    assert_no_secret(result)


def test_percent_encoded_password_in_the_url_is_decoded_and_hidden(published, tls, tmp_path, capsys):
    password = "p@ss:w/rd-5c1e"
    encoded = "p%40ss%3Aw%2Frd-5c1e"
    with AuthServer(files_dir=str(published["dir"]), basic=(USER, password), tls=tls) as server:
        url = server.url("/files/" + NAME).replace("https://", "https://%s:%s@" % (USER, encoded))
        args = dict(url=url, checksum="sha256:" + published["sha256"], dest=str(tmp_path / "c"), ca_path=tls.ca)
        rc, result = run_in_process(main, args, capsys)
        assert rc == 0, result
    text = json.dumps(result)
    assert password not in text and encoded not in text


def test_on_the_controller_a_password_in_the_url_is_hidden_from_the_task_process(server, published, tls, tmp_path):
    # through ansible with the local connection, the action plugin verifies in its own process
    url = server.url("/files/" + NAME).replace("https://", "https://%s:%s@" % (USER, PASSWORD))
    args = dict(url=url, checksum="sha256:" + published["sha256"], dest=str(tmp_path / "c"), ca_path=tls.ca)
    rc, result = run_ansible("artifact_verify", args)
    assert rc == 0, result
    assert "invocation" not in result  # a module run answers with its invocation
    assert server.requests_to("/files/")[-1].headers["Authorization"] == "Basic " + SECRETS[2]
    assert_no_secret(result)
    # a failure names the checksum URL it could not read, without its password
    sums = server.url("/files/MISSING-SUMS").replace("https://", "https://%s:%s@" % (USER, PASSWORD))
    rc, result = run_ansible("artifact_verify", dict(args, checksum=sums))
    assert rc != 0 and "MISSING-SUMS" in result["msg"], result
    assert_no_secret(result)
