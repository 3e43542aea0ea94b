# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which 127.0.0.x block a new fleet may take, so that fleets of parallel test workers never meet.

Under pytest-xdist each worker (gw0, gw1, ...) owns its own range of last octets; outside xdist the
whole range is open. Within the range, a block is free when no running fleet is configured for any
of its addresses and nothing answers on the app port there.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Set

from fleet.hosts import APP_PORT
from fleet.procs import FleetError, port_open, process_kind, processes_using

FIRST = 11
LAST = 254
WORKER_RANGE = 60  # addresses per xdist worker: gw0 11-70, gw1 71-130, gw2 131-190, gw3 191-250
ADDRESS = re.compile(r"\b127\.0\.0\.(\d{1,3})\b")


def addresses_in_use() -> Set[int]:
    """Last octets of the 127.0.0.x addresses that running fleets (of any work dir) are configured for."""
    used: Set[int] = set()
    for cmdline in processes_using("/tmp/lmf-").values():
        kind = process_kind(cmdline)
        texts = [cmdline]
        argv = cmdline.split()
        for flag in ("-c", "-f"):  # supervisord.conf / haproxy.cfg: they name the addresses of every host
            if kind in ("supervisord", "haproxy") and flag in argv[:-1]:
                try:
                    with open(argv[argv.index(flag) + 1], encoding="utf-8", errors="replace") as f:
                        texts.append(f.read())
                except OSError:
                    pass
        for text in texts:
            used.update(int(m) for m in ADDRESS.findall(text))
    return used


def worker_range(worker: Optional[str] = None) -> range:
    """The last octets this process may use: its xdist worker's range, or all of them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "") if worker is None else worker
    match = re.fullmatch(r"gw(\d+)", worker)
    if not match:
        return range(FIRST, LAST + 1)
    start = FIRST + int(match.group(1)) * WORKER_RANGE
    if start + WORKER_RANGE - 1 > LAST:
        raise FleetError("xdist worker %s has no address range left: expected at most %d workers"
                         % (worker, (LAST - FIRST + 1) // WORKER_RANGE))
    return range(start, start + WORKER_RANGE)


def free_base_address(hosts: int, first: Optional[int] = None) -> int:
    """The first base address (in steps of 10 from ``first``) of a block of ``hosts`` free addresses."""
    allowed = worker_range()
    start = allowed.start if first is None else max(first, allowed.start)
    used = addresses_in_use()
    candidates = list(range(start, allowed.stop - hosts + 1, 10)) + list(range(allowed.start, start, 10))
    for base in candidates:
        block = range(base, base + hosts)
        if not used.intersection(block) and not any(port_open("127.0.0.%d" % n, APP_PORT) for n in block):
            return base
    raise FleetError("no block of %d free loopback addresses in 127.0.0.%d-%d: expected one unused by other "
                     "fleets (in use: %s)" % (hosts, allowed.start, allowed.stop - 1,
                                              ", ".join(str(n) for n in sorted(used)) or "none"))
