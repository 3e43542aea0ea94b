"""Shared steps of the end-to-end tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import host_state, run_playbook

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    load_history,
    save_history,
    with_status,
    with_switch,
)

# Keep the runs quick on a busy 2-core machine; the gates themselves stay on, but for the watch of each batch on
# the LB counters (3 s a batch at its default), which the tests of that gate run at its default.
FAST = {
    "deploy_health_timeout": 15,
    "deploy_cpu_sample_seconds": 0.2,
    "deploy_max_cpu_percent": 100,
    "deploy_verify_samples": 10,
    "deploy_batch_observe_seconds": 0,
}


def deploy(fleet, version, mode="good", args=(), **extra):
    artifact = fleet.build_release(version, mode=mode)
    extra_vars = {
        **FAST,
        "deploy_version": version,
        "deploy_artifact": str(artifact.path),
        "deploy_checksum": artifact.checksum,
        **extra,
    }
    return run_playbook(fleet, "deploy", extra_vars, *args)


def ensure(fleet, *versions):
    """Bring the fleet to serve ``versions[-1]``, putting ``versions`` in place in order from the first
    one not yet served, each recorded as deployed successfully. A setup step, done by hand (unpack,
    relink, restart, history) rather than through the collection, to keep the suite quick."""
    served = set(fleet.versions().values())
    start = 0
    for index, version in enumerate(versions):
        if served == {version}:
            start = index + 1
    for version in versions[start:]:
        fleet.install_release(fleet.build_release(version))
        for host in fleet.hosts:
            entries = with_switch(load_history(host.root), version)
            save_history(host.root, with_status(entries, version, "succeeded"))
    if versions[start:]:
        fleet.wait_lb(status="UP")


def history(host):
    return json.loads((Path(host.root) / ".lastmile" / "state.json").read_text())["history"]


def lb_view(fleet):
    """Admin state and weight of every HAProxy server, as the fleet's own socket helper reads them."""
    return {n: (s["admin"], s["weight"]) for n, s in fleet.haproxy.server_states().items()}


# what only a run that moved hosts, measured traffic or failed may say
MOVED_OR_MEASURED = ("failed and was rolled back", "Restored:", "now serves", "service down for", "Watch the batch",
                     "then watch it serve users", "then verify its health",
                     "Compare the canary", "Put the release each host had")


def check_run(fleet, playbook, extra, *args):
    """Run ``playbook`` with --check --diff under load: it must end rc 0 with every host and the LB as they were and
    no request failed or served by another release, say no move, measurement or failure, and state its plan;
    returns the run and that statement (whitespace folded)."""
    before = host_state(fleet)
    serving = set(fleet.versions().values())
    with fleet.load() as load:
        run = run_playbook(fleet, playbook, extra, "--check", "--diff", *args)
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert host_state(fleet) == before, "a check run changed hosts or the LB"
    assert report.failed == 0 and set(report.versions) <= serving, report.summary()
    said = re.sub(r"\s+", " ", run.output)
    claimed = [claim for claim in MOVED_OR_MEASURED if claim in said]
    assert not claimed, (claimed, run.output[-3000:])
    assert not re.search(r"canary step \d \(", said), run.output[-3000:]
    statement = re.search(r"Check mode: nothing was changed, no window was waited for and no traffic was judged\.[^\"]*", said)
    assert statement, run.output[-3000:]
    return run, statement.group(0)
