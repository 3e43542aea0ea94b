# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steady HTTP load through the front door, counting every failed request by kind."""
from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import requests

FAILURE_KINDS = ("status", "refused", "reset", "timeout", "other")
MAX_SAMPLES = 10


@dataclass
class LoadReport:
    """What the load generator saw. ``failures`` has every kind in FAILURE_KINDS."""

    url: str
    total: int = 0
    ok: int = 0
    failed: int = 0
    failures: Dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in FAILURE_KINDS})
    status_codes: Dict[int, int] = field(default_factory=dict)  # non-2xx answers by code
    versions: Dict[str, int] = field(default_factory=dict)  # from the JSON body of 2xx answers
    hosts: Dict[str, int] = field(default_factory=dict)
    samples: List[dict] = field(default_factory=list)  # first failures: {"t", "time", "kind", "detail"}
    duration: float = 0.0
    hit_time_limit: bool = False

    @property
    def failure_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def summary(self) -> str:
        """One line for assertion messages."""
        kinds = ", ".join("%s=%d" % (k, v) for k, v in self.failures.items() if v)
        return ("%d requests in %.1fs to %s: %d ok, %d failed (%s); codes %s; versions %s; first failures %s"
                % (self.total, self.duration, self.url, self.ok, self.failed, kinds or "none",
                   self.status_codes, self.versions, self.samples[:3]))


def classify(exc: BaseException) -> str:
    """Failure kind of a requests exception: refused, reset, timeout or other."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    seen = set()
    todo: List[Optional[BaseException]] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "refused"
        if isinstance(cur, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
            return "reset"
        if isinstance(cur, TimeoutError):
            return "timeout"
        todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None)])
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    text = str(exc)
    if "Connection refused" in text:
        return "refused"
    if "reset" in text.lower() or "Remote end closed" in text:
        return "reset"
    return "other"


class LoadGenerator:
    """``concurrency`` threads, each with its own keep-alive session, GET ``url`` until stopped."""

    def __init__(self, url: str, concurrency: int = 4, timeout: float = 3, max_seconds: float = 600,
                 pause: float = 0.0) -> None:
        self.url = url
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.pause = pause
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._report = LoadReport(url=url)
        self._started = 0.0
        self._stopped: Optional[float] = None

    def __enter__(self) -> "LoadGenerator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> "LoadGenerator":
        if self._threads:
            raise RuntimeError("load generator already started")
        self._started = time.monotonic()
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._run, name="load-%d" % i, daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> LoadReport:
        """Stop all threads (bounded by the request timeout) and return the final report."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        if self._stopped is None:
            self._stopped = time.monotonic()
        return self.snapshot()

    def snapshot(self) -> LoadReport:
        """A copy of the report so far (usable while the load runs)."""
        with self._lock:
            r = self._report
            end = self._stopped if self._stopped is not None else time.monotonic()
            return LoadReport(url=r.url, total=r.total, ok=r.ok, failed=r.failed, failures=dict(r.failures),
                              status_codes=dict(r.status_codes), versions=dict(r.versions), hosts=dict(r.hosts),
                              samples=list(r.samples), duration=end - self._started if self._started else 0.0,
                              hit_time_limit=r.hit_time_limit)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                if time.monotonic() - self._started > self.max_seconds:
                    with self._lock:
                        self._report.hit_time_limit = True
                    return
                self._one(session)
                if self.pause:
                    self._stop.wait(self.pause)

    def _one(self, session: requests.Session) -> None:
        body = None
        try:
            response = session.get(self.url, timeout=self.timeout)
            code = response.status_code
            if 200 <= code < 300:
                try:
                    body = response.json()
                except ValueError:
                    body = {}
            self._record(code=code, body=body)
        except requests.RequestException as e:
            self._record(kind=classify(e), detail="%s: %s" % (type(e).__name__, e))

    def _record(self, code: Optional[int] = None, body: Optional[dict] = None, kind: Optional[str] = None,
                detail: str = "") -> None:
        with self._lock:
            r = self._report
            r.total += 1
            if kind is None and code is not None and 200 <= code < 300:
                r.ok += 1
                body = body if isinstance(body, dict) else {}
                version = str(body.get("version", "unknown"))
                r.versions[version] = r.versions.get(version, 0) + 1
                host = str(body.get("host", "unknown"))
                r.hosts[host] = r.hosts.get(host, 0) + 1
                return
            if kind is None:
                kind, detail = "status", "HTTP %s" % code
                r.status_codes[code] = r.status_codes.get(code, 0) + 1
            r.failed += 1
            r.failures[kind] += 1
            if len(r.samples) < MAX_SAMPLES:
                r.samples.append({"t": round(time.monotonic() - self._started, 3), "time": time.time(),
                                  "kind": kind, "detail": detail[:300]})
