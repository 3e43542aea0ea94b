# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real HTTP(S) server on 127.0.0.1 that wants credentials, for the tests of secret options.

Routes:
  GET  /files/NAME     the file NAME from ``files_dir``, only with valid credentials (else 401)
  GET  /health         200 {"status": "ok"}, only with valid credentials
  GET  /health/NAME    relays ``health_upstreams[NAME]`` (an http URL), only with valid credentials
  GET  PATH            for a PATH in ``redirects`` (PATH -> (status, Location)): that redirect, only with
                       valid credentials
  POST /hook/...       a webhook receiver: records the JSON body, answers ``webhook_status``

Valid credentials: ``Authorization: Bearer <token>`` or HTTP basic with ``basic`` (user, password);
with neither configured every request is let in. Every request is recorded in ``seen``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List, Optional, Tuple


@dataclass
class Seen:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class TLSFiles:
    ca: str
    cert: str
    key: str


def private_ca(directory: str, address: str = "127.0.0.1") -> TLSFiles:
    """A CA certificate and a server certificate for ``address`` that this CA signed (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lastmile test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(*(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")))
    with open(files.ca, "wb") as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(files.cert, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(files.key, "wb") as handle:
        handle.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
    return files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json", extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> Seen:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length) if length else b"")
        with self.server.owner.lock:
            self.server.owner.seen.append(seen)
        return seen

    def _authorised(self) -> bool:
        owner = self.server.owner
        if owner.token is None and owner.basic is None:
            return True
        given = self.headers.get("Authorization", "")
        if owner.token is not None and given == "Bearer " + owner.token:
            return True
        if owner.basic is not None:
            expected = base64.b64encode(("%s:%s" % owner.basic).encode()).decode()
            if given == "Basic " + expected:
                return True
        self._send(401, b'{"error": "unauthorised"}', extra={"WWW-Authenticate": 'Basic realm="artifacts"'})
        return False

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        self._record()
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path in owner.redirects:
            if self._authorised():
                status, location = owner.redirects[path]
                self._send(status, b"", "text/plain", extra={"Location": location})
            return
        if not (path.startswith("/files/") or path.startswith("/health")):
            self._send(404, b"not found", "text/plain")
            return
        if not self._authorised():
            return
        if path == "/health":
            self._send(200, b'{"status": "ok"}')
        elif path.startswith("/health/"):
            upstream = owner.health_upstreams.get(path[len("/health/"):])
            if upstream is None:
                self._send(404, b"no such upstream", "text/plain")
                return
            try:
                with urllib.request.urlopen(upstream, timeout=2) as answer:  # nosec - test upstream on loopback
                    self._send(answer.status, answer.read())
            except urllib.error.HTTPError as exc:
                self._send(exc.code, exc.read())
            except OSError as exc:
                self._send(502, str(exc).encode(), "text/plain")
        else:
            target = os.path.join(owner.files_dir or "", os.path.basename(path[len("/files/"):]))
            if owner.files_dir and os.path.isfile(target):
                with open(target, "rb") as handle:
                    self._send(200, handle.read(), "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")

    def do_POST(self):  # noqa: N802 - name fixed by the base class
        self._record()
        if self.path.startswith("/hook/"):
            self._send(self.server.owner.webhook_status, b'{"ok": true}')
        else:
            self._send(404, b"not found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "AuthServer"


class AuthServer:
    """The server above on an ephemeral port of ``address`` (a loopback address), run in a thread;
    a context manager."""

    def __init__(
        self,
        files_dir: Optional[str] = None,
        token: Optional[str] = None,
        basic: Optional[Tuple[str, str]] = None,
        tls: Optional[TLSFiles] = None,
        webhook_status: int = 200,
        health_upstreams: Optional[Dict[str, str]] = None,
        redirects: Optional[Dict[str, Tuple[int, str]]] = None,
        address: str = "127.0.0.1",
    ):
        self.files_dir = files_dir
        self.token = token
        self.basic = basic
        self.webhook_status = webhook_status
        self.health_upstreams = dict(health_upstreams or {})
        self.redirects = dict(redirects or {})
        self.address = address
        self.seen: List[Seen] = []
        self.lock = threading.Lock()
        self.scheme = "https" if tls else "http"
        self._server = _Server((address, 0), _Handler)
        self._server.owner = self
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def origin(self) -> str:
        return "%s://%s:%d" % (self.scheme, self.address, self._server.server_address[1])

    def url(self, path: str) -> str:
        return self.origin + path

    def requests_to(self, prefix: str, method: str = "GET") -> List[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    def hook_bodies(self) -> List[dict]:
        return [json.loads(s.body) for s in self.requests_to("/hook/", "POST")]

    def __enter__(self) -> "AuthServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def refused_url(path: str) -> Iterator[str]:
    """An http URL on 127.0.0.1 whose connections are refused: its port is bound but never listens,
    so no other server can take it while the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield "http://127.0.0.1:%d%s" % (holder.getsockname()[1], path)


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def without_environment_credentials(monkeypatch, directory) -> None:
    """No proxy and no ~/.netrc of the machine running the tests takes part."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", os.path.join(str(directory), "no-netrc"))
