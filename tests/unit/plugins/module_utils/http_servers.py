# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real HTTP servers on 127.0.0.1 for probe and download tests.

Routes of one LocalServer:
  /health      200 {"status": "ok"}
  /flaky       500 on every 3rd request, 200 otherwise
  /slow        sleeps ``slow_seconds`` then 200
  /down        503
  /warmup      503 for the first ``warmup_failures`` requests, then 200
  /reset       closes the connection without answering
  /files/NAME  the file NAME from ``files_dir``
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid delayed-ACK stalls
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        count = owner.count(path)
        owner.headers_seen.append(dict(self.headers))
        owner.client_ports.add(self.client_address[1])
        if path == "/health":
            self._send(200, json.dumps({"status": "ok"}).encode())
        elif path == "/flaky":
            status = 500 if count % 3 == 0 else 200
            self._send(status, json.dumps({"status": "ok" if status == 200 else "error"}).encode())
        elif path == "/slow":
            time.sleep(owner.slow_seconds)
            self._send(200, b'{"status": "ok"}')
        elif path == "/down":
            self._send(503, b'{"status": "down"}')
        elif path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/health")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/warmup":
            status = 503 if count <= owner.warmup_failures else 200
            self._send(status, b'{"status": "warming"}' if status == 503 else b'{"status": "ok"}')
        elif path == "/reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path.startswith("/files/") and owner.files_dir:
            target = os.path.join(owner.files_dir, os.path.basename(path[len("/files/"):]))
            if os.path.isfile(target):
                with open(target, "rb") as handle:
                    self._send(200, handle.read(), "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "LocalServer"


class LocalServer:
    """An HTTP server on an ephemeral 127.0.0.1 port, run in a thread; counts requests per path."""

    def __init__(
        self,
        slow_seconds: float = 0.3,
        warmup_failures: int = 3,
        files_dir: Optional[str] = None,
        tls_files: Optional[Tuple[str, str]] = None,
    ):
        self.scheme = "https" if tls_files else "http"
        self.slow_seconds = slow_seconds
        self.warmup_failures = warmup_failures
        self.files_dir = files_dir
        self.counts: Dict[str, int] = {}
        self.headers_seen: list = []
        self.client_ports: set = set()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        if tls_files:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_files)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return "%s://127.0.0.1:%d" % (self.scheme, self._server.server_address[1])

    def url(self, path: str) -> str:
        return self.base_url + path

    def count(self, path: str) -> int:
        with self._lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]

    def connections_seen(self) -> int:
        """Distinct client TCP connections that sent requests."""
        return len(self.client_ports)

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def self_signed_cert(directory: str) -> Tuple[str, str]:
    """Write a self-signed certificate for 127.0.0.1 and its key; return (cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
    return cert_path, key_path


def closed_port_url(path: str = "/health") -> str:
    """URL of a 127.0.0.1 port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return "http://127.0.0.1:%d%s" % (port, path)
