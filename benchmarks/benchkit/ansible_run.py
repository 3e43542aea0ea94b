# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ansible-playbook process: its output lines with arrival times, its timeline, wall and CPU time."""
from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from benchkit import measure
from fleet.playbook import stream

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
BENCH_VENV = BENCH / ".venv"
CALLBACK_PLUGINS = BENCH / "callback_plugins"
BASELINE = BENCH / "baseline" / "rolling.yml"


class BenchError(Exception):
    """The benchmark could not measure what it set out to measure."""


class AnsibleRun:
    """One finished ansible-playbook run."""

    def __init__(self, label: str, command: List[str], rc: int, started: float, wall: float,
                 cpu_user: float, cpu_sys: float, lines: List[Tuple[float, str]], timeline: List[dict]) -> None:
        self.label = label
        self.command = command
        self.rc = rc
        self.started = started  # time.monotonic() at start
        self.wall = wall
        self.cpu_user = cpu_user
        self.cpu_sys = cpu_sys
        self.lines = lines  # (seconds since start, line)
        self.spans = measure.task_spans(timeline)
        self.recap = measure.parse_recap(line for _t, line in lines)

    def counts(self, app_hosts: Sequence[str], forks: int) -> dict:
        """Steps, results per host, per-task times and the gates' cost (benchkit.measure)."""
        return {"task_steps": measure.count_task_banners(line for _t, line in self.lines),
                "task_starts_seen_by_callback": len(self.spans),
                **measure.results_per_host(self.recap, app_hosts),
                "gates": measure.gate_costs(self.spans, forks),
                "top_tasks": measure.top_tasks(self.spans)}

    def tail(self, lines: int = 40) -> str:
        return "\n".join(line for _t, line in self.lines[-lines:])


def timeline_env(env: Dict[str, str], path: Path) -> Dict[str, str]:
    """``env`` with the bench_timeline callback writing to ``path``."""
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    return {**env, "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_PLUGINS), "BENCH_TIMELINE": str(path),
            "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled + ["bench_timeline"])}


def run_ansible(label: str, command: List[str], env: Dict[str, str], log_path: Path, timeout: float,
                on_line: Optional[Callable[[float, str], None]] = None) -> AnsibleRun:
    """Run ``command`` (merged stdout/stderr), timing every line; its own process group, killed on timeout."""
    timeline_path = log_path.with_name("%s-%s.timeline.jsonl" % (log_path.stem, re.sub(r"\W+", "-", label)))
    if timeline_path.exists():
        timeline_path.unlink()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines: List[Tuple[float, str]] = []
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n===== %s: %s\n" % (label, " ".join(command)))
        log.flush()
        started = time.monotonic()

        def timed(raw: str) -> None:
            now = time.monotonic()
            line = raw.rstrip("\n")
            lines.append((now - started, line))
            if on_line is not None:
                on_line(now, line)

        rc, timed_out = stream(command, timeline_env(env, timeline_path), log, timeout, timed)
        wall = time.monotonic() - started
        log.write("===== rc %d after %.1fs%s\n" % (rc, wall, " (killed)" if timed_out else ""))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if timed_out:
        raise BenchError("%s: killed after %ss; output ends:\n%s" % (label, timeout, "\n".join(x for _t, x in lines[-30:])))
    timeline = measure.read_timeline(timeline_path.read_text(encoding="utf-8")) if timeline_path.exists() else []
    return AnsibleRun(label, command, rc, started, wall, after.ru_utime - before.ru_utime,
                      after.ru_stime - before.ru_stime, lines, timeline)


def lastmile_command(inventory: str, extra_vars: dict) -> List[str]:
    """lastmile.deploy.deploy with the project's venv (the one running this script)."""
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, "lastmile.deploy.deploy",
            "-e", json.dumps(extra_vars)]


def baseline_command(inventory: str, extra_vars: dict) -> List[str]:
    """The documentation-style playbook with the benchmark venv's ansible (it brings community.general)."""
    return [str(BENCH_VENV / "bin" / "ansible-playbook"), "-i", inventory, str(BASELINE), "-e", json.dumps(extra_vars)]


def ensure_bench_venv() -> None:
    """Create benchmarks/.venv from benchmarks/requirements.txt when it is missing."""
    if (BENCH_VENV / "bin" / "ansible-playbook").exists():
        return
    print("creating %s from %s" % (BENCH_VENV, BENCH / "requirements.txt"), flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r",
                    str(BENCH / "requirements.txt")], check=True)


def code_version() -> dict:
    """The commit the collection was measured at, and how many of its files differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=False).stdout.strip()
    measured = ("roles", "plugins", "playbooks", "meta", "benchmarks/baseline", "benchmarks/benchkit",
                "benchmarks/callback_plugins", "benchmarks/run.py")
    changed = git("status", "--porcelain", "--", *measured)
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_files": len(changed.splitlines()) if changed else 0}


def engine_versions() -> dict:
    """ansible-core of both sides and the community package of the baseline."""
    def core(python: str) -> str:
        out = subprocess.run([python, "-c", "import ansible.release as r; print(r.__version__)"],
                             stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
        return out or "unknown"
    community = subprocess.run([str(BENCH_VENV / "bin" / "python"), "-m", "pip", "show", "ansible"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout
    match = re.search(r"^Version: (\S+)", community, re.M)
    return {"lastmile_ansible_core": core(sys.executable),
            "baseline_ansible_core": core(str(BENCH_VENV / "bin" / "python")),
            "baseline_ansible": match.group(1) if match else "unknown"}
