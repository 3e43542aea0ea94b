"""Shared steps of the end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_playbook

# Keep the runs quick on a busy 2-core machine; the gates themselves stay on.
FAST = {
    "deploy_health_timeout": 15,
    "deploy_cpu_sample_seconds": 0.2,
    "deploy_max_cpu_percent": 100,
    "deploy_verify_samples": 10,
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
    """Deploy ``versions`` in order unless the fleet already serves the last one."""
    if set(fleet.versions().values()) == {versions[-1]}:
        return
    for version in versions:
        run = deploy(fleet, version)
        assert run.rc == 0, run.output[-3000:]


def history(host):
    return json.loads((Path(host.root) / ".lastmile" / "state.json").read_text())["history"]
