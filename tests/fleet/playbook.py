# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's playbooks (``lastmile.deploy.<name>``) against a fleet's inventory."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, TextIO, Tuple

from fleet.artifacts import Artifact

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)
# Gate settings that keep runs quick on a busy 2-core machine; the gates themselves stay on.
FAST_GATES = {
    "deploy_health_timeout": 15,
    "deploy_cpu_sample_seconds": 0.2,
    "deploy_max_cpu_percent": 100,
    "deploy_verify_samples": 10,
    "deploy_batch_observe_seconds": 0,
}


@dataclass
class PlaybookRun:
    """Outcome of one ansible-playbook run."""

    rc: int
    output: str
    recap: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def total_changed(self) -> int:
        return sum(counts["changed"] for counts in self.recap.values())


def ansible_env(collections_path: Optional[Path] = None) -> Dict[str, str]:
    """The environment ansible-playbook runs with: this checkout's ansible.cfg, plain output, and the
    collection from ``collections_path`` (default: this checkout, through .build/collections)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections_path or COLLECTIONS),
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        PYTHONUNBUFFERED="1",  # lines arrive while the play runs, for progress views
    )
    return env


def release_vars(artifact: Artifact) -> Dict[str, str]:
    """The extra vars naming a built release: deploy_version, deploy_artifact, deploy_checksum."""
    return {"deploy_version": artifact.version, "deploy_artifact": str(artifact.path),
            "deploy_checksum": artifact.checksum}


def parse_recap(output: str) -> Dict[str, Dict[str, int]]:
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the PLAY RECAP."""
    return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP.finditer(output)}


def run_playbook(fleet, playbook: str, extra_vars: Optional[dict] = None, *args: str, timeout: float = 600,
                 collections_path: Optional[Path] = None, on_line: Optional[Callable[[str], None]] = None,
                 log_path: Optional[str] = None) -> PlaybookRun:
    """Run ``lastmile.deploy.<playbook>`` against ``fleet``'s inventory; stdout and stderr merged.

    ``on_line`` gets every output line as it arrives. The command and its full output are appended
    to ``log_path`` (default: playbooks.log in $LASTMILE_TEST_LOGS, else in the fleet's work dir).
    Raises subprocess.TimeoutExpired after ``timeout`` seconds (the run is killed).
    """
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i", str(fleet.inventory_path),
        "lastmile.deploy.%s" % playbook,
        "-e", json.dumps(extra_vars or {}),
        *args,
    ]
    if log_path is None:
        log_path = str(Path(os.environ.get("LASTMILE_TEST_LOGS", fleet.workdir)) / "playbooks.log")
    lines = []

    def keep(line: str) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))

    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n===== %s\n" % " ".join(command))
        log.flush()
        rc, timed_out = stream(command, ansible_env(collections_path), log, timeout, keep)
        output = "".join(lines)
        log.write("===== rc %d%s\n" % (rc, " (killed after %ss)" % timeout if timed_out else ""))
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output=output)
    return PlaybookRun(rc, output, parse_recap(output))


def stream(command: List[str], env: Dict[str, str], log: TextIO, timeout: float,
           on_line: Callable[[str], None]) -> Tuple[int, bool]:
    """Run ``command`` from the repository, stdout and stderr merged, in its own process group: every
    line goes to ``log`` and then to ``on_line`` as it arrives. Killed with its workers after ``timeout``
    seconds, or when ``on_line`` raises. Returns (exit status, whether it was killed for the timeout)."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)  # its own group: its workers are killed with it
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, kill_on_timeout)
    timer.start()
    try:
        for line in proc.stdout or ():
            log.write(line)
            on_line(line)
        rc = proc.wait()
    except BaseException:  # Ctrl-C or a failing on_line: never leave ansible-playbook behind
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    return rc, timed_out.is_set()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ansible-playbook and the workers it forked."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
