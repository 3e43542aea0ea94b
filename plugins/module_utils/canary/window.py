# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One observation window: the load balancer's counters of canary and stable servers read before and after,
with active probes straight to the hosts in between (http.status_of: standard library only)."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import ProbeSample
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import require_servers
from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import status_of
from ansible_collections.lastmile.deploy.plugins.module_utils.lb.pool import Counters, Pool


class WindowError(LastmileError):
    """The groups or the window cannot be observed as asked."""


@dataclasses.dataclass
class Window:
    """Counters at both ends of the window, its measured length, and the probes taken in it."""

    before: Dict[str, Counters]
    after: Dict[str, Counters]
    window_s: float
    canary_probes: Optional[List[ProbeSample]] = None
    stable_probes: Optional[List[ProbeSample]] = None


def select_groups(backend: str, servers: dict, canary: Sequence[str], stable: Optional[Sequence[str]],
                  stable_may_be_empty: bool = False) -> tuple:
    """(canary, stable) server names; stable defaults to every other server with weight > 0 not in maint.

    An empty stable group is an error unless `stable_may_be_empty` (the stable side then comes from a baseline).
    """
    canary = list(dict.fromkeys(canary))
    if not canary:
        raise WindowError("canary names no server; expected at least one server of backend '%s'" % backend)
    require_servers(backend, servers, list(dict.fromkeys(canary + list(stable or []))))
    if stable is None:
        stable = [
            name for name, server in servers.items()
            if name not in canary and server.weight > 0 and server.admin != "maint"
        ]
        if not stable and not stable_may_be_empty:
            raise WindowError(
                "backend '%s' has no stable server: every server other than %s has weight 0 or is in "
                "maintenance; name the stable servers in 'stable', or give a 'baseline'" % (backend, ", ".join(canary))
            )
    stable = list(dict.fromkeys(stable))
    if not stable and not stable_may_be_empty:
        raise WindowError("stable names no server; expected at least one server of backend '%s'" % backend)
    both = [name for name in canary if name in stable]
    if both:
        raise WindowError("server %s is both canary and stable; a server belongs to one group" % ", ".join(both))
    return canary, stable


def check_urls(option: str, urls: Sequence[str]) -> List[str]:
    """Return `urls`, or raise naming the first that is not http(s)."""
    for url in urls:
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise WindowError("%s holds %r; expected http:// or https:// URLs" % (option, url))
    return list(urls)


def probe_url(url: str, timeout: float) -> ProbeSample:
    """One GET straight to the host (no proxy, no redirect); any HTTP status is a response, a network
    failure or timeout is not."""
    result = status_of(url, timeout)
    if not result.ok:
        return ProbeSample(status=None, latency_ms=None, error="%s: %s" % (url, result.error))
    return ProbeSample(status=result.status, latency_ms=result.latency_ms)


def _probe_loop(url: str, every: float, timeout: float, stop: threading.Event, samples: list, probe) -> None:
    next_start = time.monotonic()
    while not stop.is_set():
        samples.append(probe(url, timeout))
        next_start = max(next_start + every, time.monotonic())
        if stop.wait(next_start - time.monotonic()):
            return


def check_seconds(**seconds: float) -> None:
    """Raise WindowError naming the first of ``seconds`` (name=value) that is not a number of seconds > 0."""
    for name, value in seconds.items():
        if not value > 0:
            raise WindowError("%s is %r; expected a number of seconds > 0" % (name, value))


def observe(
    pool: Pool,
    servers: Sequence[str],
    interval: float,
    canary_urls: Sequence[str] = (),
    stable_urls: Sequence[str] = (),
    probe_interval: float = 0.5,
    probe_timeout: float = 2.0,
    probe: Callable[[str, float], ProbeSample] = probe_url,
) -> Window:
    """Read counters, probe each URL every `probe_interval` s in its own thread for `interval` s,
    read counters again. A probe under way at the end is waited for and kept."""
    check_seconds(interval=interval, probe_interval=probe_interval, probe_timeout=probe_timeout)
    targets = [("canary", url) for url in check_urls("canary_urls", canary_urls)]
    targets += [("stable", url) for url in check_urls("stable_urls", stable_urls)]
    taken = [[] for target in targets]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_probe_loop, args=(target[1], probe_interval, probe_timeout, stop, found, probe),
                         daemon=True)
        for target, found in zip(targets, taken)
    ]
    before = pool.counters(servers)
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        time.sleep(interval)
        after = pool.counters(servers)
        window_s = time.monotonic() - started
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                # urllib's timeout bounds each socket operation, not a whole request.
                thread.join(probe_timeout + 1.0)
    samples = {"canary": [], "stable": []}
    for target, found in zip(targets, taken):
        samples[target[0]].extend(list(found))
    return Window(
        before=before,
        after=after,
        window_s=round(window_s, 3),
        canary_probes=samples["canary"] if canary_urls else None,
        stable_probes=samples["stable"] if stable_urls else None,
    )
