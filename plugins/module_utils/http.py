# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP from the controller: health probes, waiting until healthy, sampling, downloads.

Uses ``requests``, which is imported lazily so that importing this file never fails on a
host without it; the first call raises ProbeError saying what to install.
Network failures never raise: they become results with ``ok=False`` and an ``error`` text.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Pattern, Sequence, Tuple, Union
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

PERCENTILES = (50, 90, 95, 99)
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


@dataclass
class SampleStats:
    """Figures over ``count`` requests. Latency percentiles (nearest-rank) cover requests
    that got an HTTP response; requests without one count only as failures."""

    url: str
    count: int
    failures: int
    error_rate: float
    p50_ms: Optional[float]
    p90_ms: Optional[float]
    p95_ms: Optional[float]
    p99_ms: Optional[float]
    max_ms: Optional[float]
    statuses: Dict[str, int]
    latencies_ms: List[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        figures = {name: getattr(self, name) for name in (
            "url", "count", "failures", "error_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
        )}
        figures["statuses"] = dict(self.statuses)
        return figures


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


def _check_url(url: str) -> str:
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
    """Short text for a network failure: 'connection refused', 'timed out after 2s', ..."""
    requests = _requests()
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out after %gs" % timeout
    if isinstance(exc, requests.exceptions.SSLError):
        reason = certificate_failure(exc)
        if reason is not None:
            return "TLS error: certificate verification failed: %s" % reason
        return "TLS error: %s" % (exc.args[0] if exc.args else exc)
    os_error = _os_error_in(exc)
    if os_error is not None:
        if os_error.errno == errno.ETIMEDOUT:
            return "timed out after %gs" % timeout
        if os_error.errno:
            return "connection failed: %s" % (os_error.strerror or os.strerror(os_error.errno)).lower()
        return "connection failed: %s" % (os_error.args[0] if os_error.args else type(os_error).__name__)
    return "%s: %s" % (type(exc).__name__, exc)


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
    _check_url(url)
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


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> Optional[float]:
    """Nearest-rank percentile: the smallest value with at least ``percentile`` % of values <= it."""
    if not 0 < percentile <= 100:
        raise ProbeError("percentile must be in (0, 100], got %r" % (percentile,))
    if not sorted_values:
        return None
    rank = max(1, int(math.ceil(percentile / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


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


def summarise(url: str, results: Sequence[ProbeResult]) -> SampleStats:
    """Aggregate probe results into error rate, status counts and latency percentiles."""
    statuses: Dict[str, int] = {}
    for result in results:
        key = str(result.status) if result.status is not None else "error"
        statuses[key] = statuses.get(key, 0) + 1
    latencies = sorted(r.latency_ms for r in results if r.latency_ms is not None)
    failures = sum(1 for r in results if not r.ok)
    points = {p: nearest_rank(latencies, p) for p in PERCENTILES}
    return SampleStats(
        url=url,
        count=len(results),
        failures=failures,
        error_rate=round(float(failures) / len(results), 6) if results else 0.0,
        p50_ms=points[50],
        p90_ms=points[90],
        p95_ms=points[95],
        p99_ms=points[99],
        max_ms=latencies[-1] if latencies else None,
        statuses=statuses,
        latencies_ms=latencies,
    )


def evaluate(
    stats: SampleStats,
    max_error_rate: Optional[float],
    max_latency_ms: Optional[float],
    latency_percentile: float = 95,
) -> List[str]:
    """Failure texts for every threshold the sample does not meet (None = not checked)."""
    failures = []
    over = "over %d samples" % stats.count
    if max_error_rate is not None and stats.error_rate > max_error_rate:
        failures.append(
            "%s: error rate %.4g > %g %s (%d failed, statuses %s)"
            % (stats.url, stats.error_rate, max_error_rate, over, stats.failures, _statuses_text(stats))
        )
    if max_latency_ms is not None:
        value = nearest_rank(stats.latencies_ms, latency_percentile)
        if value is None:
            failures.append(
                "%s: no response to measure p%g latency %s" % (stats.url, latency_percentile, over)
            )
        elif value > max_latency_ms:
            failures.append(
                "%s: p%g latency %.1f ms > %g ms %s"
                % (stats.url, latency_percentile, value, max_latency_ms, over)
            )
    return failures


def _statuses_text(stats: SampleStats) -> str:
    return ", ".join("%s x%d" % (key, stats.statuses[key]) for key in sorted(stats.statuses))


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
    _check_url(url)
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
