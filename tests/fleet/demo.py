# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m fleet demo`` (``make demo``): rolling, canary and a canary rolled back, under live traffic.

Brings up 4 hosts behind HAProxy, installs v1 with ``lastmile.deploy.deploy`` (rolling), then,
with steady load through the front door, sends a canary of v2 through traffic steps until it is
promoted to the whole fleet, and a canary of a bad v3 (30% of requests answer 500) that fails its
first step and rolls back by itself. Prints what happened per deployment, checks it against what
should have happened (the exit code says), and tears the fleet down again, whatever happens.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, TextIO

from fleet.addresses import free_base_address
from fleet.demo_report import PROMOTE, ROLL_BACK, ROLL_OUT, Deployment, LbView, result_line
from fleet.fleet import Fleet
from fleet.playbook import FAST_GATES, release_vars, run_playbook
from fleet.procs import FleetError
from fleet.progress import Progress

HOSTS = 4
LOAD_OPTIONS = {"concurrency": 2, "pause": 0.05}  # steady, yet light enough for a 2-core machine
CANARY_STEPS = [10, 50, 100]
CANARY_INTERVAL = 4  # seconds observed per step
BAD_ERROR_RATE = 0.3  # share of "/" requests the bad release answers with 500
CANARY = {
    "deploy_canary_count": 1,
    "deploy_canary_steps": CANARY_STEPS,
    "deploy_canary_interval": CANARY_INTERVAL,
    "deploy_canary_min_requests": 10,
    # probes straight on the hosts add to the few requests a 10% share of this light load brings
    "deploy_canary_probe_path": "/",
}
# the test workers use 127.0.0.11-130; the demo keeps out of their way so both can run at once
FIRST_BASE_ADDRESS = 151
PLAYBOOK_TIMEOUT = 300


class Demo:
    """The demo's steps on one fleet; ``run()`` returns the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.fleet: Optional[Fleet] = None
        self.deployments: List[Deployment] = []
        self.not_run: List[str] = []
        self.summarized = False

    @property
    def log_path(self) -> str:
        return os.path.join(self.fleet.workdir, "ansible.log") if self.fleet else ""

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run(self) -> int:
        base = free_base_address(HOSTS, first=FIRST_BASE_ADDRESS)
        self.fleet = Fleet(hosts=HOSTS, base_address=base, keep_workdir=True)
        fleet = self.fleet
        self.say("Starting a %d-host fleet on 127.0.0.%d-%d in %s"
                 % (HOSTS, base, base + HOSTS - 1, fleet.workdir))
        fleet.start()
        self.say("  front door (HAProxy): %s" % fleet.frontend_url)
        canary = "%d host, steps %s%%, %ds each" % (
            CANARY["deploy_canary_count"], "/".join(str(s) for s in CANARY_STEPS), CANARY_INTERVAL)
        story = [
            (Deployment("v1", "rolling", "deploy_batch 50%", ROLL_OUT), {"deploy_batch": "50%"}),
            (Deployment("v2", "canary", canary, PROMOTE, previous="v1", planned_steps=len(CANARY_STEPS)), CANARY),
            (Deployment("v3", "canary", canary, ROLL_BACK, previous="v2", mode="errors",
                        planned_steps=len(CANARY_STEPS)), CANARY),
        ]
        for deployment, strategy_vars in story:
            if self.deployments and self.deployments[-1].problems():
                self.not_run.append("%s: not run, %s did not go as expected" % (
                    deployment.version, self.deployments[-1].version))
                continue
            self.deploy(deployment, strategy_vars, under_load=deployment.previous is not None)
        return 0 if self.summary() else 1

    def lb_view(self) -> LbView:
        return {name: (s["admin"], s["weight"]) for name, s in self.fleet.haproxy.server_states().items()}

    def deploy(self, deployment: Deployment, strategy_vars: Dict[str, object], under_load: bool) -> None:
        """Run lastmile.deploy.deploy for ``deployment``, optionally while load runs through the front door."""
        fleet = self.fleet
        self.deployments.append(deployment)
        bad = deployment.mode == "errors"
        artifact = fleet.build_release(deployment.version, mode=deployment.mode,
                                       **({"error_rate": BAD_ERROR_RATE} if bad else {}))
        extra_vars = {**FAST_GATES, **release_vars(artifact), "deploy_strategy": deployment.strategy, **strategy_vars}
        what = deployment.strategy
        if bad:
            what += " of a bad release: %d%% of its requests answer 500" % round(100 * BAD_ERROR_RATE)
        load_note = " under steady load through the front door" if under_load else ""
        self.say()
        self.say("Deploying %s (%s, %s)%s" % (deployment.version, what, deployment.settings, load_note))
        if deployment.previous is not None:
            fleet.wait_lb("UP", timeout=20)
            deployment.lb_before = self.lb_view()
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
        deployment.failures = progress.full_failures
        deployment.canary_steps = progress.canary_steps
        progress.say("%s (rc %d)" % (deployment.outcome, run.rc))
        if deployment.lb_before is not None:
            try:  # a restored server takes its health checks before it counts as UP again
                fleet.wait_lb("UP", timeout=20)
            except FleetError as e:
                deployment.lb_error = str(e)
            deployment.lb_after = self.lb_view()
        deployment.served = fleet.versions()
        deployment.current = {h.name: h.current_target() for h in fleet.hosts}

    def summary(self) -> bool:
        """Print what every deployment did; True when the whole story went as it should."""
        self.summarized = True
        self.say()
        self.say("Summary")
        for deployment in self.deployments:
            for line in deployment.report():
                self.say("  " + line)
        ok, lines = result_line(self.deployments, self.log_path, self.not_run)
        for line in lines:
            self.say(line)
        return ok

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
