"""Fixtures for end-to-end tests: a real fleet and a way to run the collection's playbooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet import Fleet

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)


@dataclass
class PlaybookRun:
    """Outcome of one ansible-playbook run."""

    rc: int
    output: str
    recap: dict = field(default_factory=dict)

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def total_changed(self) -> int:
        return sum(counts["changed"] for counts in self.recap.values())


def run_playbook(fleet: Fleet, playbook: str, extra_vars: dict | None = None, *args: str,
                 timeout: float = 600) -> PlaybookRun:
    """Run ``lastmile.deploy.<playbook>`` against the fleet inventory."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
    )
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i", str(fleet.inventory_path),
        f"lastmile.deploy.{playbook}",
        "-e", json.dumps(extra_vars or {}),
        *args,
    ]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        for m in RECAP.finditer(proc.stdout)
    }
    log_dir = Path(os.environ.get("LASTMILE_TEST_LOGS", fleet.workdir))
    with open(log_dir / "playbooks.log", "a", encoding="utf-8") as log:
        log.write(f"\n===== {' '.join(command)}\n{output}\n")
    return PlaybookRun(proc.returncode, output, recap)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A 4-host fleet behind HAProxy, for the tests of one module."""
    with Fleet(hosts=4) as running:
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
        }
    state["lb"] = {
        name: {"admin": s["admin"], "weight": s["weight"]} for name, s in fleet.haproxy.server_states().items()
    }
    return state
