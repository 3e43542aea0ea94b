# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloads and checksum fetches through redirects, against real servers on loopback addresses
that record every header they receive: credentials reach the first origin and no other."""

from __future__ import annotations

import base64
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import ProbeError, download, fetch_text
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca, without_environment_credentials

TOKEN, PRIVATE_TOKEN = "art-9c41d7e2b0", "glpat-5e0a77c3f1"
USER, PASSWORD = "deployer", "pw-6b2f90aa"
BASIC = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
TOKEN_HEADERS = {"X-JFrog-Art-Api": TOKEN, "PRIVATE-TOKEN": PRIVATE_TOKEN}
SECRETS = (TOKEN, PRIVATE_TOKEN, PASSWORD, BASIC.split()[1])
ARCHIVE = b"\x1f\x8b" + bytes(range(256)) * 12
SUMS = "0123abcd  app.tar.gz\n"
MAX_REDIRECTS = 10  # the documented bound


@pytest.fixture(autouse=True)
def no_environment_credentials(monkeypatch, tmp_path):
    without_environment_credentials(monkeypatch, tmp_path)


@pytest.fixture
def published(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "app.tar.gz").write_bytes(ARCHIVE)
    (folder / "SHA256SUMS").write_text(SUMS)
    return str(folder)


@pytest.fixture
def tls(tmp_path):
    pytest.importorskip("cryptography")
    return private_ca(str(tmp_path))


def lowered(headers):
    return {name.lower(): value for name, value in headers.items()}


def credentials_in(headers):
    """Which of the given credentials a request carried, and whether any secret shows anywhere in it."""
    got = lowered(headers)
    carried = {
        "x-jfrog-art-api": got.get("x-jfrog-art-api") == TOKEN,
        "private-token": got.get("private-token") == PRIVATE_TOKEN,
        "basic": got.get("authorization") == BASIC,
    }
    leaked = any(secret in value for value in got.values() for secret in SECRETS)
    return carried, leaked


def get(kind, url, tmp_path, **options):
    """fetch_text or download ``url``; return the body."""
    if kind == "fetch_text":
        return fetch_text(url, 5, **options).encode()
    target = tmp_path / "download.bin"
    download(url, str(target), 5, **options)
    return target.read_bytes()


@pytest.mark.parametrize("kind", ["fetch_text", "download"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("scheme, address", [("http", "127.0.0.1"), ("http", "127.0.0.2"), ("https", "127.0.0.1")],
                         ids=["downgrade-same-host", "downgrade-other-host", "https-same-host-other-port"])
@pytest.mark.parametrize("with_basic", [False, True], ids=["headers", "headers+basic"])
def test_credentials_reach_the_first_origin_never_a_second_one(kind, status, scheme, address, with_basic, published, tls, tmp_path):
    """The first origin is https on 127.0.0.1; the second differs in scheme, host or port."""
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    with AuthServer(files_dir=published, tls=tls if scheme == "https" else None, address=address) as elsewhere, \
            AuthServer(tls=tls, redirects={"/go/" + name: (status, elsewhere.url("/files/" + name))}) as first:
        body = get(kind, first.url("/go/" + name), tmp_path, headers=TOKEN_HEADERS,
                   auth=(USER, PASSWORD) if with_basic else None, ca_path=tls.ca)
        assert body == (ARCHIVE if kind == "download" else SUMS.encode())
        [at_first] = first.requests_to("/go/")
        [at_second] = elsewhere.requests_to("/files/")
    assert credentials_in(at_first.headers)[0] == {"x-jfrog-art-api": True, "private-token": True, "basic": with_basic}
    assert credentials_in(at_second.headers) == ({"x-jfrog-art-api": False, "private-token": False, "basic": False}, False)


@pytest.mark.parametrize("kind", ["fetch_text", "download"])
@pytest.mark.parametrize("location", ["/files/{name}", "../files/{name}", "{origin}/files/{name}"])
def test_a_same_origin_redirect_keeps_every_credential(kind, location, published, tls, tmp_path):
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    with AuthServer(files_dir=published, basic=(USER, PASSWORD), tls=tls) as server:
        server.redirects["/releases/" + name] = (302, location.format(name=name, origin=server.origin))
        body = get(kind, server.url("/releases/" + name), tmp_path, headers=TOKEN_HEADERS, auth=(USER, PASSWORD),
                   ca_path=tls.ca)
        assert body == (ARCHIVE if kind == "download" else SUMS.encode())
        seen = [s.path for s in server.seen]
        carried = [credentials_in(s.headers)[0] for s in server.seen]
    assert seen == ["/releases/" + name, "/files/" + name]
    assert carried == [{"x-jfrog-art-api": True, "private-token": True, "basic": True}] * 2


@pytest.mark.parametrize("kind", ["fetch_text", "download"])
def test_after_a_downgrade_to_http_no_credential_is_sent_again(kind, published, tls, tmp_path):
    """https -> http on the same host -> back to the first https origin: the last two hops get nothing."""
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    with AuthServer(files_dir=published, basic=(USER, PASSWORD), tls=tls) as first, AuthServer() as plain:
        first.redirects["/start/" + name] = (302, plain.url("/back/" + name))
        plain.redirects["/back/" + name] = (301, first.url("/files/" + name))
        with pytest.raises(ProbeError) as caught:
            get(kind, first.url("/start/" + name), tmp_path, headers=TOKEN_HEADERS, auth=(USER, PASSWORD),
                ca_path=tls.ca)
        at_first = [(s.path, credentials_in(s.headers)) for s in first.seen]
        at_plain = [(s.path, credentials_in(s.headers)) for s in plain.seen]
    nothing = ({"x-jfrog-art-api": False, "private-token": False, "basic": False}, False)
    assert at_first[0] == ("/start/" + name, ({"x-jfrog-art-api": True, "private-token": True, "basic": True}, True))
    assert at_plain == [("/back/" + name, nothing)]
    assert at_first[1:] == [("/files/" + name, nothing)], "credentials re-added when the chain came back"
    message = str(caught.value)
    action = "fetch" if kind == "fetch_text" else "download"
    assert message == (
        "cannot %s %s (redirected to %s): status 401 (expected 200): credentials were not forwarded across origins "
        "(from %s to %s)" % (action, first.url("/start/" + name), first.url("/files/" + name), first.origin, plain.origin)
    )


@pytest.mark.parametrize("kind", ["fetch_text", "download"])
def test_a_cross_origin_target_that_wants_credentials_is_told_apart(kind, published, tls, tmp_path):
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    with AuthServer(files_dir=published, token=TOKEN, address="127.0.0.2") as guarded, \
            AuthServer(tls=tls, redirects={"/go/" + name: (307, guarded.url("/files/" + name) + "?X-Amz-Signature=s1g")}) as first:
        with pytest.raises(ProbeError) as caught:
            get(kind, first.url("/go/" + name), tmp_path, headers={"Authorization": "Bearer " + TOKEN, **TOKEN_HEADERS},
                ca_path=tls.ca)
        [at_guarded] = guarded.requests_to("/files/")
    message = str(caught.value)
    assert "status 401 (expected 200): credentials were not forwarded across origins (from %s to %s)" % (
        first.origin, guarded.origin) in message
    assert "redirected to %s)" % guarded.url("/files/" + name) in message
    assert not any(secret in message for secret in SECRETS + ("s1g",))
    assert credentials_in(at_guarded.headers) == ({"x-jfrog-art-api": False, "private-token": False, "basic": False}, False)
    assert "authorization" not in lowered(at_guarded.headers)


def test_a_netrc_entry_goes_to_the_host_it_names_and_no_further(monkeypatch, published, tmp_path):
    """~/.netrc names a host, not a port: its entry for 127.0.0.1 must not follow a redirect to another port."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD))
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with AuthServer(files_dir=published) as elsewhere, \
            AuthServer(basic=(USER, PASSWORD), redirects={"/go/app.tar.gz": (302, elsewhere.url("/files/app.tar.gz"))}) as first:
        assert download(first.url("/go/app.tar.gz"), str(tmp_path / "x"), 5) == len(ARCHIVE)
        [at_first] = first.requests_to("/go/")
        [at_second] = elsewhere.requests_to("/files/")
    assert lowered(at_first.headers)["authorization"] == BASIC
    assert "authorization" not in lowered(at_second.headers)


def test_an_authorization_header_given_wins_over_netrc(monkeypatch, published, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password %s\n" % PASSWORD)
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with AuthServer(files_dir=published, token=TOKEN) as server:
        assert fetch_text(server.url("/files/SHA256SUMS"), 5, headers={"Authorization": "Bearer " + TOKEN}) == SUMS
        assert [lowered(s.headers)["authorization"] for s in server.seen] == ["Bearer " + TOKEN]


@pytest.mark.parametrize("kind", ["fetch_text", "download"])
def test_ten_redirects_are_followed_and_the_eleventh_fails_naming_the_url(kind, published, tmp_path):
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    with AuthServer(files_dir=published) as server:
        for hop in range(MAX_REDIRECTS + 1):
            server.redirects["/hop/%d" % hop] = (302, "/hop/%d" % (hop + 1))
        server.redirects["/hop/%d" % (MAX_REDIRECTS + 1)] = (302, "/files/" + name)
        start_ten, start_eleven = server.url("/hop/2"), server.url("/hop/1")
        assert get(kind, start_ten, tmp_path) == (ARCHIVE if kind == "download" else SUMS.encode())
        followed = len(server.seen)
        with pytest.raises(ProbeError) as caught:
            get(kind, start_eleven, tmp_path)
        tried = len(server.seen) - followed
    action = "fetch" if kind == "fetch_text" else "download"
    assert followed == MAX_REDIRECTS + 1
    assert tried == MAX_REDIRECTS + 1
    assert str(caught.value) == "cannot %s %s: more than 10 redirects (the last one to %s)" % (
        action, start_eleven, server.url("/files/" + name))


def test_a_redirect_loop_fails_naming_the_url(tmp_path):
    with AuthServer(redirects={"/loop": (307, "/loop")}) as server:
        with pytest.raises(ProbeError) as caught:
            fetch_text(server.url("/loop"), 5, headers=TOKEN_HEADERS)
        assert len(server.seen) == MAX_REDIRECTS + 1
    assert str(caught.value) == "cannot fetch %s: more than 10 redirects (the last one to %s)" % (
        server.url("/loop"), server.url("/loop"))


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/app.tar.gz", "gopher://127.0.0.1:70/x"])
def test_only_http_and_https_targets_are_followed(location, tmp_path):
    with AuthServer(redirects={"/go/app.tar.gz": (302, location)}) as server:
        with pytest.raises(ProbeError) as caught:
            download(server.url("/go/app.tar.gz"), str(tmp_path / "x"), 5, headers=TOKEN_HEADERS)
    assert str(caught.value) == "cannot download %s: redirected to %s, which is not an http:// or https:// URL" % (
        server.url("/go/app.tar.gz"), location)
    assert not (tmp_path / "x").exists()


def test_credentials_in_a_location_are_never_used(published, tmp_path):
    with AuthServer(files_dir=published) as elsewhere:
        planted = elsewhere.url("/files/app.tar.gz").replace("http://", "http://planted:pw-planted@")
        with AuthServer(redirects={"/go/app.tar.gz": (302, planted)}) as first:
            assert download(first.url("/go/app.tar.gz"), str(tmp_path / "x"), 5) == len(ARCHIVE)
        [at_second] = elsewhere.requests_to("/files/")
    assert "authorization" not in lowered(at_second.headers)


# property: over any chain of redirects among three origins, a request carries the credentials
# exactly when it and every hop before it were on the origin of the URL given

_chains = itertools.count()


@pytest.fixture(scope="module")
def origins(tmp_path_factory):
    pytest.importorskip("cryptography")
    folder = tmp_path_factory.mktemp("origins")
    tls = private_ca(str(folder))
    (folder / "app.tar.gz").write_bytes(ARCHIVE)
    (folder / "SHA256SUMS").write_text(SUMS)
    with AuthServer(files_dir=str(folder), tls=tls) as secure, AuthServer(files_dir=str(folder)) as plain, \
            AuthServer(files_dir=str(folder), address="127.0.0.2") as other:
        yield dict(servers=(secure, plain, other), ca=tls.ca, dir=folder)


@settings(max_examples=60, deadline=None)
@given(
    path=st.lists(st.integers(0, 2), min_size=1, max_size=MAX_REDIRECTS),
    statuses=st.lists(st.sampled_from([301, 302, 303, 307, 308]), min_size=MAX_REDIRECTS, max_size=MAX_REDIRECTS),
    relative=st.lists(st.booleans(), min_size=MAX_REDIRECTS, max_size=MAX_REDIRECTS),
    kind=st.sampled_from(["fetch_text", "download"]),
    with_basic=st.booleans(),
)
def test_credentials_follow_a_chain_only_while_it_stays_on_the_first_origin(origins, path, statuses, relative, kind, with_basic):
    """``path`` lists the origin of each hop; the last hop's server then serves the file itself."""
    servers = origins["servers"]
    chain = next(_chains)
    name = "app.tar.gz" if kind == "download" else "SHA256SUMS"
    hop_paths = ["/chain/%d/%d" % (chain, hop) for hop in range(len(path))] + ["/files/%s?chain=%d" % (name, chain)]
    hop_urls = [servers[index].url(hop_path) for index, hop_path in zip(path + path[-1:], hop_paths)]
    for hop, index in enumerate(path):
        stays = hop + 1 == len(path) or path[hop + 1] == index
        location = hop_paths[hop + 1] if stays and relative[hop] else hop_urls[hop + 1]
        servers[index].redirects[hop_paths[hop]] = (statuses[hop], location)
    auth = (USER, PASSWORD) if with_basic else None
    if kind == "fetch_text":
        assert fetch_text(hop_urls[0], 5, headers=TOKEN_HEADERS, auth=auth, ca_path=origins["ca"]) == SUMS
    else:
        target = origins["dir"] / ("chain-%d.tar.gz" % chain)
        assert download(hop_urls[0], str(target), 5, headers=TOKEN_HEADERS, auth=auth, ca_path=origins["ca"]) == len(ARCHIVE)
        assert target.read_bytes() == ARCHIVE
    for hop, (index, hop_path) in enumerate(zip(path + path[-1:], hop_paths)):
        with servers[index].lock:
            [seen] = [s for s in servers[index].seen if s.path == hop_path]
        on_first = all(step == path[0] for step in (path + path[-1:])[:hop + 1])
        carried, leaked = credentials_in(seen.headers)
        assert carried == {"x-jfrog-art-api": on_first, "private-token": on_first, "basic": on_first and with_basic}, (path, hop)
        assert leaked == on_first, (path, hop)
