# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m fleet demo`` (``make demo``): a rolling deployment under live traffic on a fresh local fleet.

Brings up 4 hosts behind HAProxy, deploys v1 with ``lastmile.deploy.deploy``, starts steady load
through the front door, rolls out v2 one host at a time, stops the load, prints what happened and
tears the fleet down again, whatever happens.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, TextIO, Tuple, Union

from fleet.fleet import Fleet
from fleet.hosts import APP_PORT
from fleet.load import LoadReport
from fleet.playbook import FAST_GATES, release_vars, run_playbook
from fleet.procs import FleetError, port_open, process_kind, processes_using
from fleet.progress import Progress

HOSTS = 4
LOAD_OPTIONS = {"concurrency": 2, "pause": 0.05}  # steady, yet light enough for a 2-core machine
# the tests use 127.0.0.11 and up; the demo keeps out of their way so both can run at once
FIRST_BASE_ADDRESS = 101
PLAYBOOK_TIMEOUT = 300
ADDRESS = re.compile(r"\b127\.0\.0\.(\d{1,3})\b")


@dataclass
class Deployment:
    """One run of lastmile.deploy.deploy and what it left behind."""

    version: str
    strategy: str
    batch: Union[int, str]
    rc: Optional[int] = None
    duration: float = 0.0
    load: Optional[LoadReport] = None
    hosts: Dict[str, Tuple[Optional[str], Optional[str]]] = field(default_factory=dict)  # name: (version, current)
    failures: List[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.rc == 0 and (self.load is None or self.load.failed == 0)


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


def free_base_address(hosts: int, first: int = FIRST_BASE_ADDRESS) -> int:
    """The first base address (first, first+10, ...) whose ``hosts`` addresses no fleet uses and nothing serves."""
    used = addresses_in_use()
    for base in list(range(first, 255 - hosts, 10)) + list(range(12, first, 10)):
        block = range(base, base + hosts)
        if not used.intersection(block) and not any(port_open("127.0.0.%d" % n, APP_PORT) for n in block):
            return base
    raise FleetError("no block of %d free loopback addresses for the demo: expected one unused by other fleets "
                     "(in use: %s)" % (hosts, ", ".join(str(n) for n in sorted(used))))


class Demo:
    """The demo's steps on one fleet; ``run()`` returns the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.fleet: Optional[Fleet] = None
        self.deployments: List[Deployment] = []
        self.summarized = False

    @property
    def log_path(self) -> str:
        return os.path.join(self.fleet.workdir, "ansible.log") if self.fleet else ""

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run(self) -> int:
        base = free_base_address(HOSTS)
        self.fleet = Fleet(hosts=HOSTS, base_address=base, keep_workdir=True)
        fleet = self.fleet
        self.say("Starting a %d-host fleet on 127.0.0.%d-%d in %s"
                 % (HOSTS, base, base + HOSTS - 1, fleet.workdir))
        fleet.start()
        self.say("  front door (HAProxy): %s" % fleet.frontend_url)

        first = self.deploy("v1", batch="50%", under_load=False)
        if first.succeeded:
            fleet.wait_lb("UP", timeout=20)
            self.deploy("v2", batch=1, under_load=True)
        self.summary()
        return 0 if all(d.succeeded for d in self.deployments) else 1

    def deploy(self, version: str, batch: Union[int, str], under_load: bool) -> Deployment:
        """Deploy ``version`` with the rolling strategy, optionally while load runs through the front door."""
        fleet = self.fleet
        deployment = Deployment(version, "rolling", batch)
        self.deployments.append(deployment)
        artifact = fleet.build_release(version)
        extra_vars = {**FAST_GATES, **release_vars(artifact), "deploy_strategy": deployment.strategy,
                      "deploy_batch": batch}
        self.say()
        self.say("Deploying %s (%s, deploy_batch %s)%s" % (
            version, deployment.strategy, batch, " under steady load through the front door" if under_load else ""))
        progress = Progress(self.out)
        load = fleet.load(**LOAD_OPTIONS) if under_load else None
        started = time.monotonic()
        try:
            if load is not None:
                load.start()
            run = run_playbook(fleet, "deploy", extra_vars, timeout=PLAYBOOK_TIMEOUT, on_line=progress.line,
                               log_path=self.log_path)
        finally:
            deployment.duration = time.monotonic() - started
            if load is not None:
                deployment.load = load.stop()
        progress.finish()
        deployment.rc = run.rc
        deployment.failures = progress.failures
        deployment.hosts = {h.name: (h.version(), h.current_target()) for h in fleet.hosts}
        progress.say("%s (rc %d)" % ("done" if run.rc == 0 else "FAILED", run.rc))
        return deployment

    def summary(self) -> None:
        self.summarized = True
        self.say()
        self.say("Summary")
        for d in self.deployments:
            outcome = "succeeded" if d.rc == 0 else "FAILED (rc %s)" % d.rc
            self.say("  %s: %s, deploy_batch %s: %s in %.1fs" % (d.version, d.strategy, d.batch, outcome, d.duration))
            self.say("    front door: %s" % describe_load(d.load))
            if d.failures:  # the last one is the run's own verdict (what failed, what was restored)
                self.say("    failed on %s" % d.failures[-1])
            for name, (version, current) in d.hosts.items():
                self.say("    %-5s serves %-8s current -> %s" % (name, version or "nothing", current or "(none)"))
        ok = all(d.succeeded for d in self.deployments)
        failed_requests = sum(d.load.failed for d in self.deployments if d.load is not None)
        if ok:
            self.say("Result: OK, every deployment succeeded and no request failed")
        else:
            self.say("Result: FAILED (%d failed requests); full ansible output: %s" % (failed_requests, self.log_path))

    def teardown(self, keep: bool) -> None:
        """Stop every process of the fleet; remove the work dir unless ``keep``."""
        if self.fleet is None:
            return
        try:
            killed = self.fleet.stop(remove_workdir=not keep)
        except FleetError as e:
            self.say("teardown: %s" % e)
            return
        for pid, cmdline in killed.items():
            self.say("teardown: killed leftover %d: %s" % (pid, cmdline))
        self.say("Fleet stopped%s" % ("; its files stay in %s" % self.fleet.workdir if keep else " and removed"))


def describe_load(report: Optional[LoadReport]) -> str:
    """One line: requests served and failed through the front door, and which versions answered."""
    if report is None:
        return "no traffic (first install: nothing served before it)"
    versions = ", ".join("%s %d" % (v, n) for v, n in sorted(report.versions.items()))
    text = "%d requests in %.1fs: %d served, %d failed" % (report.total, report.duration, report.ok, report.failed)
    if report.failed:
        text += " (%s)" % ", ".join("%s %d" % (k, n) for k, n in report.failures.items() if n)
    return text + ("; answered by %s" % versions if versions else "")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(out: Optional[TextIO] = None) -> int:
    """Run the demo; the fleet is always torn down (also on errors, Ctrl-C and SIGTERM)."""
    demo = Demo(out or sys.stdout)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    rc = 1
    try:
        rc = demo.run()
    except KeyboardInterrupt:
        demo.say("\nInterrupted")
        rc = 130
    except (FleetError, OSError, subprocess.TimeoutExpired) as e:
        demo.say("demo: %s" % e)
        if demo.fleet is not None:
            demo.say(demo.fleet.diagnostics(lines=10))
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the teardown short
        try:
            keep = rc != 0 or os.environ.get("LMF_KEEP") == "1"
            if rc != 0 and not demo.summarized and demo.fleet is not None and os.path.exists(demo.log_path):
                demo.say("full ansible output: %s" % demo.log_path)
            demo.teardown(keep)
        finally:
            signal.signal(signal.SIGINT, interrupt)
    return rc
