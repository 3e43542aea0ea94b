"""Fixtures for end-to-end tests: a real fleet and a way to run the collection's playbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet import Fleet
from fleet.addresses import free_base_address
from fleet.playbook import COLLECTIONS, REPO, PlaybookRun, run_playbook

__all__ = ["COLLECTIONS", "REPO", "PlaybookRun", "fleet", "host_state", "run_playbook"]


@pytest.fixture(scope="module")
def fleet(request):
    """A fleet behind HAProxy for the tests of one module: FLEET_HOSTS hosts (default 4), as few as the
    module's tests need, since every host adds a process per task to every run on a 2-core machine."""
    hosts = getattr(request.module, "FLEET_HOSTS", 4)
    with Fleet(hosts=hosts, base_address=free_base_address(hosts)) as running:
        yield running


def host_state(fleet: Fleet) -> dict:
    """Everything a deployment may change on hosts and in the LB, for before/after comparisons."""
    state = {}
    for host in fleet.hosts:
        root = Path(host.root)
        releases = root / "releases"
        history = root / ".lastmile" / "state.json"
        state[host.name] = {
            "current": host.current_target(),
            "releases": sorted(p.name for p in releases.iterdir()) if releases.is_dir() else [],
            "history": history.read_text() if history.exists() else None,
            "lock": (root / ".lastmile" / "lock.json").exists(),
        }
    state["lb"] = {
        name: {"admin": s["admin"], "weight": s["weight"]} for name, s in fleet.haproxy.server_states().items()
    }
    return state
