# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment summaries posted as JSON to a webhook.

A webhook URL usually is the secret itself (a token in its path or query), so no text made
here ever contains it: errors describe what failed, never where.
Sent with http.send (standard library only), so it runs on any controller or host.
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any, Dict, List, Optional, Sequence
from urllib.error import URLError
from urllib.parse import unquote, urlsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import HTTPException, ProbeError, send, tls_verify

OUTCOMES = ("succeeded", "rolled_back", "failed")
_OUTCOME_TEXT = {"succeeded": "succeeded", "rolled_back": "was rolled back", "failed": "failed"}
REDACTED = "<webhook>"


class NotifyError(LastmileError):
    """The summary could not be built or delivered; the text never contains the URL."""


def build_summary(
    app: str,
    version: str,
    outcome: str,
    strategy: Optional[str] = None,
    message: str = "",
    hosts: Sequence[str] = (),
    releases: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """The JSON body: the deployment's fields, plus ``text``, a one-line summary for chat webhooks."""
    if outcome not in OUTCOMES:
        raise NotifyError("outcome %r is not one of %s" % (outcome, ", ".join(OUTCOMES)))
    hosts = [str(host) for host in hosts]
    text = "%s %s %s" % (app, version, _OUTCOME_TEXT[outcome])
    details = []
    if strategy:
        details.append(str(strategy))
    if hosts:
        details.append("%d host%s" % (len(hosts), "" if len(hosts) == 1 else "s"))
    if details:
        text += " (%s)" % ", ".join(details)
    if message:
        text += ": %s" % message
    return dict(
        app=app,
        version=version,
        strategy=strategy or None,
        outcome=outcome,
        message=message or "",
        hosts=hosts,
        releases={str(host): str(text) for host, text in (releases or {}).items()},
        text=text,
    )


def check_url(url: str) -> None:
    """Refuse anything but an http(s) URL with a host, without quoting it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        scheme = parts.scheme if parts is not None and parts.scheme else "none"
        raise NotifyError(
            "the webhook URL is not an http:// or https:// URL with a host (scheme: %s; URL not shown)" % scheme
        )


def secret_parts(url: str) -> List[str]:
    """Pieces of the URL that may carry its secret and must not appear in any text."""
    parts = urlsplit(url)
    pieces = [url, parts.path, parts.query, parts.fragment, parts.password or "", parts.username or ""]
    pieces += [unquote(piece) for piece in pieces]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= 16]
    return sorted({piece for piece in pieces if piece and piece != "/"}, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` with the URL and every secret-looking part of it replaced."""
    for piece in secret_parts(url):
        text = text.replace(piece, REDACTED)
    return text


def _reason(exc: BaseException) -> str:
    reason: Any = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed: %s" % (reason.verify_message or reason.reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "the webhook did not answer in time"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "the webhook host name does not resolve"
    if isinstance(reason, OSError) and reason.strerror:
        return "connection failed: %s" % reason.strerror.lower()
    return "%s: %s" % (type(reason).__name__, reason)


def post_json(
    url: str,
    payload: Dict[str, Any],
    headers: Optional[Dict[str, str]] = None,
    validate_certs: bool = True,
    timeout: float = 10.0,
    ca_path: Optional[str] = None,
) -> int:
    """POST ``payload`` as JSON through http.send (standard library, the environment's proxy);
    return the 2xx status. Redirects are not followed.

    Raises NotifyError with a reason that never quotes the URL.
    """
    check_url(url)
    request_headers = {"Content-Type": "application/json", "User-Agent": "lastmile.deploy-notify"}
    request_headers.update(headers or {})
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    try:
        status = send("POST", url, timeout, body=body, headers=request_headers,
                      verify=tls_verify(validate_certs, ca_path))[0]
    except ProbeError as exc:
        raise NotifyError(redact(str(exc), url)) from None
    except (URLError, OSError, HTTPException, ValueError) as exc:
        raise NotifyError(redact(_reason(exc), url)) from None
    if not 200 <= status < 300:
        raise NotifyError("the webhook answered status %d (expected 2xx)" % status)
    return status
