# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client of the collection: health probes, canary probes, downloads and webhooks.

One set of rules, written here once:

- URLs: http:// or https:// only.
- TLS: ``validate_certs`` and ``ca_path`` become tls_verify(): off, a CA bundle (a PEM file or a
  directory), or the system's CAs.
- Timeouts: every request has one, in seconds, for connecting and for each read; it reads
  "timed out after <n>s". Network failures are described once, by describe_error().
- Redirects: probes and webhooks never follow one (a 3xx is their answer); downloads and
  checksum files follow up to MAX_REDIRECTS to http(s) URLs (_get_following_redirects).
- Credentials (headers, basic auth, ~/.netrc) go to the origin (scheme, host, port) of the URL
  given and are dropped for good at the first change of origin; a server's Location never
  supplies any. Messages never show them.

Two transports carry those rules, chosen by where the code runs. On the controller (health
probes and downloads, delegate_to: localhost) requests does: its keep-alive sessions, proxies and
CA bundles from the environment; it is imported on first use, so importing this file never needs
it. Code that also runs on managed hosts (canary probes from the load balancer's host, webhooks)
uses send(), on the standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Dict, Iterator, List, Optional, Pattern, Sequence, Tuple, Union
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.stats import SampleStats, summarise
MAX_REDIRECTS = 10  # redirects a download or checksum fetch follows before it gives up
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


class ProbeError(LastmileError):
    """A probe cannot be attempted (bad argument, missing library) or a download failed."""


class CertificateError(ProbeError):
    """A download failed because the server's TLS certificate could not be verified."""


def _requests() -> Any:
    try:
        import requests
    except ImportError:
        raise ProbeError(
            "the Python library 'requests' is needed where HTTP probes run (by default the "
            "controller, via delegate_to: localhost): install it with 'pip install requests'"
        ) from None
    return requests


@dataclass
class ProbeResult:
    """Outcome of one request. ``status`` and ``latency_ms`` are None when no response came."""

    url: str
    ok: bool
    status: Optional[int]
    latency_ms: Optional[float]
    error: Optional[str]
    body_matched: Optional[bool] = None


@dataclass
class WaitResult:
    """Outcome of wait_healthy: whether it became healthy, after how many attempts."""

    healthy: bool
    attempts: int
    elapsed_s: float
    last: ProbeResult


@contextlib.contextmanager
def _tls_warnings(validate_certs: bool):
    """Silence urllib3's per-request warning when certificate checks are off on purpose."""
    with warnings.catch_warnings():
        if not validate_certs:
            warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        yield


def tls_verify(validate_certs: bool = True, ca_path: Optional[str] = None) -> Union[bool, str]:
    """The ``verify`` value for requests: False, a CA bundle file, or True (the system's CAs)."""
    if not validate_certs:
        return False
    if ca_path:
        if not os.path.exists(ca_path):
            raise ProbeError(
                "ca_path %s does not exist: expected a PEM file of CA certificates, or a directory of them" % ca_path
            )
        return ca_path
    return True


def clean_headers(headers: Optional[Dict[str, Any]], option: str = "headers") -> Optional[Dict[str, str]]:
    """Header values as text without surrounding whitespace; None when there are none.

    A name or value with a line break or NUL is refused naming the header but never the value,
    which often is a token.
    """
    if not headers:
        return None
    cleaned = {}
    for name, value in headers.items():
        name = str(name).strip()
        text = "" if value is None else str(value).strip()
        if not _HEADER_NAME_RE.match(name):
            raise ProbeError("%s: header name %r is not a valid HTTP header name" % (option, name))
        if any(char in text for char in "\r\n\0"):
            raise ProbeError("%s: the value of header %r contains a line break or NUL (value not shown)" % (option, name))
        cleaned[name] = text
    return cleaned


def split_credentials(url: str) -> Tuple[str, Optional[str], Optional[str]]:
    """Take ``user:password@`` out of a URL: return (URL without it, user, password), both decoded."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _sep, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), unquote(user) or None, unquote(password) if has_password else None


def check_url(url: str) -> str:
    """The URL, when it is an http(s) URL; else ProbeError naming it."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ProbeError("URL %r is not an http:// or https:// URL" % (url,))
    return url


def compile_body_regex(body_regex: Union[str, Pattern, None]) -> Optional[Pattern]:
    """Compile a body regex once, naming it when it is invalid."""
    if body_regex is None or hasattr(body_regex, "search"):
        return body_regex  # type: ignore[return-value]
    try:
        return re.compile(body_regex)
    except re.error as exc:
        raise ProbeError("body_regex %r is not a valid regular expression: %s" % (body_regex, exc)) from exc


def _linked(exc: BaseException) -> List[BaseException]:
    """Every exception reachable from ``exc`` through args, reason, cause and context."""
    seen: Dict[int, BaseException] = {}
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen[id(current)] = current
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return list(seen.values())


def _os_error_in(exc: BaseException) -> Optional[OSError]:
    """Find the socket-level OSError that requests/urllib3 wrap several layers deep.

    One carrying an errno (refused, unreachable) is preferred over one without
    (RemoteDisconnected).
    """
    fallback = None
    for current in _linked(exc):
        if isinstance(current, OSError):
            if current.errno:
                return current
            fallback = fallback or current
    return fallback


def certificate_failure(exc: BaseException) -> Optional[str]:
    """Why certificate verification failed ('self-signed certificate', ...), None if it did not."""
    for linked in _linked(exc):
        if isinstance(linked, ssl.SSLCertVerificationError):
            return linked.verify_message or linked.reason or str(linked)
    return None


def describe_error(exc: BaseException, timeout: float) -> str:
    """Short text for a network failure of either transport: 'connection refused', 'timed out after 2s', ..."""
    requests = sys.modules.get("requests")  # only requests itself can have raised its own errors
    linked = _linked(exc)
    if requests is not None and isinstance(exc, requests.exceptions.Timeout) or any(
            isinstance(error, (socket.timeout, TimeoutError)) for error in linked):
        return "timed out after %gs" % timeout
    reason = certificate_failure(exc)
    if reason is not None:
        return "TLS error: certificate verification failed: %s" % reason
    if requests is not None and isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: %s" % (exc.args[0] if exc.args else exc)
    tls_error = next((error for error in linked if isinstance(error, ssl.SSLError)), None)
    if tls_error is not None:
        return "TLS error: %s" % (tls_error.reason or tls_error)
    os_error = _os_error_in(exc)
    if os_error is not None:
        if os_error.errno == errno.ETIMEDOUT:
            return "timed out after %gs" % timeout
        if os_error.errno:
            return "connection failed: %s" % (os_error.strerror or os.strerror(os_error.errno)).lower()
        return "connection failed: %s" % (os_error.args[0] if os_error.args else type(os_error).__name__)
    return "%s: %s" % (type(exc).__name__, exc)


@functools.lru_cache(maxsize=16)
def _tls_context(verify: Union[bool, str]) -> ssl.SSLContext:
    """The standard library's TLS context for what tls_verify() returns; made once (loading CAs takes time)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    return ssl.create_default_context(**{"capath" if os.path.isdir(verify) else "cafile": verify})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer of its own (a 3xx status), not a reason to ask elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def send(
    method: str,
    url: str,
    timeout: float,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    verify: Union[bool, str] = True,
    via_proxy: bool = True,
) -> Tuple[int, bytes]:
    """One request on the standard library alone; return (status, body). Any HTTP status is an
    answer: redirects are not followed.

    ``verify`` is what tls_verify() returns. ``via_proxy``: through the proxy the environment names
    (HTTP(S)_PROXY, NO_PROXY), else straight to the host. Network failures raise OSError or
    HTTPException (urllib.error.URLError holds the reason): describe_error() names them.
    Credentials are ``headers`` and the URL's own ``user:password@`` (sent as basic auth unless an
    Authorization header is given); with no redirect followed they reach only that origin.
    """
    check_url(url)
    url, user, password = split_credentials(url)
    headers = dict(headers or {})
    if user and not any(name.lower() == "authorization" for name in headers):
        token = base64.b64encode(("%s:%s" % (user, password or "")).encode("utf-8")).decode("ascii")
        headers["Authorization"] = "Basic " + token
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(None if via_proxy else {}),
                                         urllib.request.HTTPSHandler(context=_tls_context(verify)), _NoRedirect())
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.getcode(), response.read()
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read()
        except (OSError, HTTPException):
            return exc.code, b""
        finally:
            exc.close()


def status_of(url: str, timeout: float, verify: Union[bool, str] = True) -> ProbeResult:
    """One GET straight to ``url`` (no proxy, no redirect) on the standard library: any status is an
    answer (``ok``), a network failure is not. For probes from a managed host."""
    check_url(url)
    started = time.monotonic()
    try:
        status = send("GET", url, timeout, verify=verify, via_proxy=False)[0]
    except (OSError, HTTPException, ValueError) as exc:
        return ProbeResult(url, False, None, None, describe_error(exc, timeout))
    return ProbeResult(url, True, status, round((time.monotonic() - started) * 1000.0, 3), None)


def probe(
    url: str,
    timeout: float,
    expect_status: Sequence[int] = (200,),
    body_regex: Union[str, Pattern, None] = None,
    headers: Optional[Dict[str, str]] = None,
    validate_certs: bool = True,
    session: Any = None,
) -> ProbeResult:
    """One GET. Redirects are not followed: list 3xx codes in ``expect_status`` to accept them."""
    requests = _requests()
    check_url(url)
    pattern = compile_body_regex(body_regex)
    own_session = session is None
    if own_session:
        session = requests.Session()
    started = time.monotonic()
    try:
        with _tls_warnings(validate_certs):
            response = session.get(
                url, timeout=timeout, headers=headers, verify=validate_certs, allow_redirects=False
            )
            body = response.text if pattern is not None else response.content
    except requests.exceptions.RequestException as exc:
        return ProbeResult(url, False, None, None, describe_error(exc, timeout))
    finally:
        if own_session:
            session.close()
    latency_ms = round((time.monotonic() - started) * 1000.0, 3)
    status = response.status_code
    matched = bool(pattern.search(body)) if pattern is not None else None
    error = None
    if status not in expect_status:
        error = "status %d (expected %s)" % (status, ", ".join(str(code) for code in expect_status))
    elif matched is False:
        error = "body does not match %r" % pattern.pattern
    return ProbeResult(url, error is None, status, latency_ms, error, matched)


def wait_healthy(
    url: str,
    timeout: float,
    interval: float,
    consecutive: int = 1,
    request_timeout: float = 2.0,
    expect_status: Sequence[int] = (200,),
    body_regex: Union[str, Pattern, None] = None,
    headers: Optional[Dict[str, str]] = None,
    validate_certs: bool = True,
) -> WaitResult:
    """Probe every ``interval`` s until ``consecutive`` successes in a row or ``timeout`` s.

    There is always at least one attempt, and the last attempt starts before the deadline,
    so the wait can overrun ``timeout`` by one ``request_timeout`` at most.
    """
    if consecutive < 1:
        raise ProbeError("consecutive must be at least 1, got %r" % (consecutive,))
    requests = _requests()
    pattern = compile_body_regex(body_regex)
    started = time.monotonic()
    deadline = started + timeout
    attempts = streak = 0
    with requests.Session() as session:
        while True:
            result = probe(url, request_timeout, expect_status, pattern, headers, validate_certs, session)
            attempts += 1
            streak = streak + 1 if result.ok else 0
            if streak >= consecutive:
                break
            if time.monotonic() + interval >= deadline:
                break
            time.sleep(interval)
    return WaitResult(streak >= consecutive, attempts, round(time.monotonic() - started, 3), result)


def sample(
    url: str,
    count: int,
    interval: float,
    request_timeout: float = 2.0,
    expect_status: Sequence[int] = (200,),
    body_regex: Union[str, Pattern, None] = None,
    headers: Optional[Dict[str, str]] = None,
    validate_certs: bool = True,
) -> SampleStats:
    """Send ``count`` requests ``interval`` s apart over one keep-alive session."""
    if count < 1:
        raise ProbeError("sample count must be at least 1, got %r" % (count,))
    requests = _requests()
    pattern = compile_body_regex(body_regex)
    results = []
    with requests.Session() as session:
        for index in range(count):
            if index:
                time.sleep(interval)
            results.append(probe(url, request_timeout, expect_status, pattern, headers, validate_certs, session))
    return summarise(url, results)


def _error_for(action: str, where: str, exc: BaseException, timeout: float) -> ProbeError:
    text = "cannot %s %s: %s" % (action, where, describe_error(exc, timeout))
    if certificate_failure(exc) is not None:
        return CertificateError(text)
    return ProbeError(text)


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = "[%s]" % host
    return "%s://%s:%s" % (scheme, host, parts.port or {"http": 80, "https": 443}.get(scheme, ""))


def same_origin(first: str, second: str) -> bool:
    """True when both URLs have the same scheme, host and port, so credentials may go to both.
    False when either has a port that is not a number from 0 to 65535."""
    try:
        return origin(first) == origin(second)
    except ValueError:
        return False


def _shown(url: str) -> str:
    """A URL a server chose, as messages show it: without user:password@ and without the query,
    which may hold a signature (pre-signed download links)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _status_error(action: str, where: str, status: int, credentials_sent: bool,
                  dropped: Optional[Tuple[str, str]] = None) -> ProbeError:
    text = "cannot %s %s: status %d (expected 200)" % (action, where, status)
    if status in (401, 403):
        if dropped is not None:
            text += ": credentials were not forwarded across origins (from %s to %s)" % dropped
        elif credentials_sent:
            text += ": the server refused the credentials sent"
        else:
            text += ": the server asks for credentials and none were sent"
    return ProbeError(text)


def _environment(requests: Any, url: str, verify: Union[bool, str]) -> Dict[str, Any]:
    """Proxies and CA bundle from the environment for one hop, as requests would read them."""
    if verify is True:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return dict(proxies=requests.utils.get_environ_proxies(url), verify=verify)


def _origin_of(action: str, where: str, url: str) -> str:
    try:
        return origin(url)
    except ValueError as exc:
        raise ProbeError("cannot %s %s: %s is not a valid URL: %s" % (action, where, _shown(url), exc)) from None


def _redirect_target(action: str, where: str, current: str, location: str) -> str:
    """The absolute http(s) URL a Location header points to, without user:password@."""
    try:
        location = location.encode("latin-1").decode("utf-8")  # as requests reads a Location
    except UnicodeError:
        pass
    # a Location's own user:password@ is never used: credentials come only from the caller
    target = split_credentials(urljoin(current, location.strip()))[0]
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise ProbeError(
            "cannot %s %s: redirected to %s, which is not an http:// or https:// URL" % (action, where, _shown(target))
        )
    return target


@contextlib.contextmanager
def _get_following_redirects(
    action: str,
    url: str,
    timeout: float,
    validate_certs: bool,
    headers: Optional[Dict[str, str]],
    auth: Optional[Tuple[str, str]],
    ca_path: Optional[str],
) -> Iterator[Tuple[Any, str]]:
    """GET ``url`` following redirects; yield the 200 response (body not yet read) and how
    messages name it. Raises ProbeError naming ``url``.

    Credentials are ``headers`` (every one of them) and the basic auth: ``auth``, else
    ``user:password@`` in ``url``, else the ~/.netrc entry for the URL's host when neither basic
    auth nor an Authorization header is given. They go only to the origin (scheme, host, port)
    of ``url``: the first redirect to another origin drops them for the rest of the chain, also
    when a later redirect comes back, so nothing is sent after a downgrade to http. Up to
    MAX_REDIRECTS redirects (301, 302, 303, 307, 308) to http(s) URLs are followed. Requests go
    through a bare transport adapter: no session re-attaches credentials, reads ~/.netrc or
    keeps cookies on its own.
    """
    requests = _requests()
    check_url(url)
    verify = tls_verify(validate_certs, ca_path)
    url, user, password = split_credentials(url)
    first_origin = _origin_of(action, url, url)
    if auth is None and user:
        auth = (user, password or "")
    if auth is None and not any(name.lower() == "authorization" for name in headers or {}):
        auth = requests.utils.get_netrc_auth(url)
    has_credentials = bool(headers or auth)
    dropped: Optional[Tuple[str, str]] = None
    target = where = url
    adapter = requests.adapters.HTTPAdapter()
    try:
        for redirects in range(MAX_REDIRECTS + 1):
            target_origin = _origin_of(action, where, target)
            if dropped is None and target_origin != first_origin:
                dropped = (first_origin, target_origin)
            carry = dropped is None
            sent_headers = requests.utils.default_headers()
            if carry and headers:
                sent_headers.update(headers)
            try:
                request = requests.Request("GET", target, headers=sent_headers, auth=auth if carry else None).prepare()
                with _tls_warnings(validate_certs):
                    response = adapter.send(request, stream=True, timeout=timeout, **_environment(requests, target, verify))
            except requests.exceptions.RequestException as exc:
                raise _error_for(action, where, exc, timeout) from exc
            if response.status_code == 200:
                with response:
                    yield response, where
                return
            response.close()
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                raise _status_error(action, where, response.status_code, carry and has_credentials,
                                    dropped if has_credentials else None)
            following = _redirect_target(action, where, target, location)
            if redirects == MAX_REDIRECTS:
                raise ProbeError(
                    "cannot %s %s: more than %d redirects (the last one to %s)" % (action, url, MAX_REDIRECTS, _shown(following))
                )
            target = following
            where = "%s (redirected to %s)" % (url, _shown(target))
    finally:
        adapter.close()


def fetch_text(
    url: str,
    timeout: float,
    validate_certs: bool = True,
    headers: Optional[Dict[str, str]] = None,
    auth: Optional[Tuple[str, str]] = None,
    ca_path: Optional[str] = None,
) -> str:
    """GET a small text file (a SHA256SUMS file); raise ProbeError naming the URL on failure.

    ``headers`` and ``auth`` (user, password for HTTP basic) are sent to the origin of ``url`` only
    (see _get_following_redirects). ``ca_path`` is a CA bundle to verify against.
    """
    requests = _requests()
    with _get_following_redirects("fetch", url, timeout, validate_certs, headers, auth, ca_path) as (response, where):
        try:
            return response.content.decode("utf-8", errors="replace")
        except requests.exceptions.RequestException as exc:
            raise _error_for("fetch", where, exc, timeout) from exc


def download(
    url: str,
    path: str,
    timeout: float,
    validate_certs: bool = True,
    headers: Optional[Dict[str, str]] = None,
    auth: Optional[Tuple[str, str]] = None,
    ca_path: Optional[str] = None,
) -> int:
    """Stream ``url`` into the file ``path``; return the byte count. Raises ProbeError.

    ``headers``, ``auth`` and ``ca_path`` as for fetch_text.
    """
    requests = _requests()
    size = 0
    with _get_following_redirects("download", url, timeout, validate_certs, headers, auth, ca_path) as (response, where):
        try:
            with open(path, "wb") as handle:
                for block in response.iter_content(chunk_size=1024 * 1024):
                    handle.write(block)
                    size += len(block)
        except requests.exceptions.RequestException as exc:
            raise _error_for("download", where, exc, timeout) from exc
        except OSError as exc:
            raise ProbeError("cannot write %s: %s" % (path, exc.strerror or exc)) from exc
    return size
