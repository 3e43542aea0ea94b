# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling deployments with lastmile.deploy against the documentation-style rolling playbook.

For each fleet size: bring up a local fleet, seed v1 by hand, then under steady load deploy v2
with ``lastmile.deploy.deploy`` (rolling, batch 25 %) and v3 with benchmarks/baseline/rolling.yml
(serial 25 %), recording wall time, failed requests, the physical floor, task counts and the CPU
time of the ansible-playbook process tree. Then, on the 4-host fleet, the time from a failed
canary verdict until all traffic is back on stable, and, on a 64-server HAProxy, the time to set
64 weights. See benchmarks/README.md.

    PYTHONPATH=tests .venv/bin/python benchmarks/run.py --hosts 4 16 64
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (REPO / "tests", REPO / ".build" / "collections"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import yaml  # noqa: E402  (after the path set-up above)

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import HAProxy as CollectionHAProxy  # noqa: E402
from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import batch_size  # noqa: E402
from fleet import Fleet  # noqa: E402
from fleet.addresses import free_base_address  # noqa: E402
from fleet.haproxy import BACKEND, HAProxy as FleetHAProxy, admin_name, render_config  # noqa: E402
from fleet.playbook import FAST_GATES, ansible_env, parse_recap, release_vars  # noqa: E402
from fleet.procs import check_socket_path, free_port  # noqa: E402
from fleet.sshd import SSHServer  # noqa: E402

BENCH_VENV = BENCH / ".venv"
BASELINE = BENCH / "baseline" / "rolling.yml"
WEIGHTS_DIR = BENCH / "weights"
RESULTS = BENCH / "results"
BATCH = "25%"
# the LB host's address when the fleet is reached over SSH (the app hosts keep their own 127.0.0.x)
SSH_LB_ADDRESS = "127.0.0.1"
# one sshd listens on at most 16 addresses (its MAX_LISTEN_SOCKS): larger fleets get several
SSHD_MAX_ADDRESSES = 16
BANNER = re.compile(r"^(?P<kind>TASK|RUNNING HANDLER|PLAY|PLAY RECAP)(?: \[(?P<name>.*)\])? \**$")
CANARY_TASK = "Compare the canary with the stable servers"
RESCUE_TASK = "Send all traffic back to the stable servers at once"
SHIFT_TASK = "lastmile.deploy.traffic : Shift traffic in HAProxy"


class BenchError(Exception):
    """The benchmark could not measure what it set out to measure."""


# ----------------------------------------------------------------------------- ansible runs

class AnsibleRun:
    """One ansible-playbook process: output lines with arrival times, recap, wall and CPU time."""

    def __init__(self, label: str, command: List[str], rc: int, started: float, wall: float,
                 cpu_user: float, cpu_sys: float, lines: List[Tuple[float, str]]) -> None:
        self.label = label
        self.command = command
        self.rc = rc
        self.started = started  # time.monotonic() at start
        self.wall = wall
        self.cpu_user = cpu_user
        self.cpu_sys = cpu_sys
        self.lines = lines  # (seconds since start, line)
        self.output = "\n".join(line for _t, line in lines)
        self.recap = parse_recap(self.output)

    def task_counts(self) -> dict:
        """Task results summed over every host of the recap, and the task banners printed."""
        total = {k: sum(c[k] for c in self.recap.values()) for k in ("ok", "changed", "failed", "skipped", "unreachable")}
        banners = sum(1 for _t, line in self.lines if line.startswith(("TASK [", "RUNNING HANDLER [")))
        return {"task_results": total["ok"] + total["failed"] + total["skipped"] + total["unreachable"],
                "executed": total["ok"] + total["failed"] + total["unreachable"], "changed": total["changed"],
                "skipped": total["skipped"], "failed": total["failed"], "task_banners": banners}

    def task_times(self) -> List[dict]:
        """Seconds per task name (banner to next banner), largest first: where the wall time goes."""
        marks = [(t, m) for t, m in ((t, BANNER.match(line)) for t, line in self.lines) if m]
        spans: Dict[str, List[float]] = {}
        for (t, m), (t_next, _m) in zip(marks, marks[1:] + [(self.wall, None)]):
            if m["kind"] in ("TASK", "RUNNING HANDLER"):
                spans.setdefault(m["name"], []).append(t_next - t)
        rows = [{"task": name, "seconds": round(sum(v), 2), "runs": len(v)} for name, v in spans.items()]
        return sorted(rows, key=lambda r: -r["seconds"])

    def role_times(self) -> List[dict]:
        """task_times() summed by role (the part of the name before ' : '; 'play' for the play's own tasks)."""
        roles: Dict[str, float] = {}
        for row in self.task_times():
            role = row["task"].split(" : ", 1)[0] if " : " in row["task"] else "play"
            roles[role] = roles.get(role, 0.0) + row["seconds"]
        return [{"role": k, "seconds": round(v, 1)} for k, v in sorted(roles.items(), key=lambda kv: -kv[1])]

    def tail(self, lines: int = 40) -> str:
        return "\n".join(line for _t, line in self.lines[-lines:])


def run_ansible(label: str, command: List[str], env: Dict[str, str], log_path: Path, timeout: float,
                on_line: Optional[Callable[[float, str], None]] = None) -> AnsibleRun:
    """Run ``command`` (merged stdout/stderr), timing every line; its own process group, killed on timeout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines: List[Tuple[float, str]] = []
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n===== %s: %s\n" % (label, " ".join(command)))
        log.flush()
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            _kill_group(proc)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            for raw in proc.stdout or ():
                now = time.monotonic()
                line = raw.rstrip("\n")
                lines.append((now - started, line))
                log.write(raw)
                if on_line is not None:
                    on_line(now, line)
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            timer.cancel()
            if proc.stdout is not None:
                proc.stdout.close()
        wall = time.monotonic() - started
        log.write("===== rc %d after %.1fs%s\n" % (rc, wall, " (killed)" if timed_out.is_set() else ""))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if timed_out.is_set():
        raise BenchError("%s: killed after %ss; output ends:\n%s" % (label, timeout, "\n".join(x for _t, x in lines[-30:])))
    return AnsibleRun(label, command, rc, started, wall, after.ru_utime - before.ru_utime,
                      after.ru_stime - before.ru_stime, lines)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
    changed = git("status", "--porcelain", "--", "roles", "plugins", "playbooks", "meta")
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_collection_files": len(changed.splitlines()) if changed else 0}


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


# ----------------------------------------------------------------------------- the physical floor

def configured_waits(fleet: Fleet) -> dict:
    """The unavoidable waits per batch that come from configuration (see README: the floor)."""
    conf = Path(fleet.hosts[0].conf).read_text(encoding="utf-8")
    match = re.search(r"^startsecs=(\d+(?:\.\d+)?)$", conf, re.M)
    startsecs = float(match.group(1)) if match else 1.0
    spec = importlib.util.spec_from_file_location("lastmile_bench_sample_app", REPO / "tests" / "fleet" / "sample_app" / "app.py")
    if spec is None or spec.loader is None:
        raise BenchError("cannot load the sample app to read its start_delay")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    start_delay = float(app.DEFAULTS["start_delay"])
    verify_defaults = yaml.safe_load((REPO / "roles" / "verify" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    samples = int(FAST_GATES.get("deploy_verify_samples", verify_defaults["deploy_verify_samples"]))
    interval = float(FAST_GATES.get("deploy_verify_interval", verify_defaults["deploy_verify_interval"]))
    return {"supervisor_startsecs": startsecs, "app_start_delay": start_delay,
            "service_start": max(startsecs, start_delay), "verify_samples": samples, "verify_interval": interval,
            "health_window": round(max(samples - 1, 0) * interval, 3)}


def measure_drain(fleet: Fleet, rounds: int = 3, timeout: float = 10.0) -> dict:
    """Under the running load: drain one server, time until it holds no session, give it back."""
    name = fleet.hosts[-1].name
    waits = []
    for _round in range(rounds):
        fleet.haproxy.command("set server %s/%s state drain" % (BACKEND, name))
        started = time.monotonic()
        try:
            while True:
                row = next(r for r in fleet.haproxy.stat_rows() if r["svname"] == name)
                if int(row.get("scur") or 0) == 0 and int(row.get("qcur") or 0) == 0:
                    waits.append(time.monotonic() - started)
                    break
                if time.monotonic() - started > timeout:
                    raise BenchError("%s still holds sessions %.0fs after drain" % (name, timeout))
                time.sleep(0.002)
        finally:
            fleet.haproxy.command("set server %s/%s state ready" % (BACKEND, name))
        fleet.wait_lb("UP", [name], timeout=15)
        time.sleep(0.2)
    return {"server": name, "samples_s": [round(w, 4) for w in waits], "median_s": round(statistics.median(waits), 4)}


def floor_of(batches: int, waits: dict, drain_s: float) -> dict:
    per_batch = drain_s + waits["service_start"] + waits["health_window"]
    return {"batches": batches, "per_batch_s": round(per_batch, 3), "floor_s": round(batches * per_batch, 2),
            "floor_without_health_window_s": round(batches * (per_batch - waits["health_window"]), 2)}


# ----------------------------------------------------------------------------- one fleet size

def deploy_under_load(fleet: Fleet, label: str, command: List[str], env: Dict[str, str], log_path: Path,
                      timeout: float, version: str, on_line: Optional[Callable[[float, str], None]] = None) -> dict:
    """Run one deployment under the fleet's steady load; what it cost and what users saw."""
    with fleet.load() as gen:
        time.sleep(1.0)  # traffic flows before the first change
        run = run_ansible(label, command, env, log_path, timeout, on_line)
        time.sleep(0.5)  # and after the last
    load = gen.snapshot()
    served = fleet.versions()
    return {"run": run, "result": {
        "tool": label, "rc": run.rc, "wall_s": round(run.wall, 2),
        "cpu_user_s": round(run.cpu_user, 2), "cpu_sys_s": round(run.cpu_sys, 2),
        "cpu_s": round(run.cpu_user + run.cpu_sys, 2),
        "requests": load.total, "failed_requests": load.failed,
        "failures": {k: v for k, v in load.failures.items() if v}, "failure_samples": load.samples[:3],
        "all_hosts_on_target": set(served.values()) == {version}, "versions_after": served,
        **run.task_counts(), "top_tasks": run.task_times()[:12], "by_role": run.role_times(),
    }}


def bench_size(hosts: int, args: argparse.Namespace, log_dir: Path) -> dict:
    size_started = time.monotonic()
    batch = batch_size(hosts, BATCH)
    batches = -(-hosts // batch)
    forks = args.forks or max(5, batch)
    env = ansible_env()
    env["ANSIBLE_FORKS"] = str(forks)
    log_path = log_dir / ("hosts-%d.log" % hosts)
    fleet = Fleet(hosts=hosts, base_address=free_base_address(hosts))
    ssh: List[SSHServer] = []
    out: dict = {"hosts": hosts, "transport": args.transport, "batch": batch, "batches": batches, "forks": forks,
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        fleet.start(timeout=max(20.0, hosts * 1.0))
        if args.transport == "ssh":
            fleet.write_inventory(transport=start_ssh_servers(fleet, ssh))
        v1 = fleet.build_release("v1")
        fleet.install_release(v1)
        fleet.wait_lb("UP", timeout=30 + hosts)
        out["setup_s"] = round(time.monotonic() - size_started, 1)
        waits = configured_waits(fleet)
        with fleet.load():
            drain = measure_drain(fleet)
        floor = floor_of(batches, waits, drain["median_s"])
        out.update(waits=waits, drain=drain, floor=floor)
        inventory = str(fleet.inventory_path)
        print("[%d hosts] fleet up in %.1fs (batch %d, %d batches, forks %d); floor %.2fs"
              % (hosts, out["setup_s"], batch, batches, forks, floor["floor_s"]), flush=True)

        v2 = fleet.build_release("v2")
        extra = {**FAST_GATES, **release_vars(v2), "deploy_strategy": "rolling", "deploy_batch": BATCH}
        lm = deploy_under_load(fleet, "lastmile", lastmile_command(inventory, extra), env, log_path, args.timeout, "v2")
        _report_run(hosts, lm)
        v3 = fleet.build_release("v3")
        bl = deploy_under_load(fleet, "baseline", baseline_command(inventory, release_vars(v3)), env, log_path,
                               args.timeout, "v3")
        _report_run(hosts, bl)
        runs = []
        for item in (lm, bl):
            r = item["result"]
            r["overhead_s"] = round(r["wall_s"] - floor["floor_s"], 2)
            r["wall_over_floor"] = round(r["wall_s"] / floor["floor_s"], 2) if floor["floor_s"] else None
            runs.append(r)
        out["runs"] = runs
        out["ratio_lastmile_to_baseline"] = round(lm["result"]["wall_s"] / bl["result"]["wall_s"], 2)
        if args.canary and hosts == args.canary_hosts:
            out["canary_rollback"] = bench_canary(fleet, env, log_path, args)
    finally:
        try:
            try:
                stop_ssh_servers(ssh)
            finally:
                fleet.stop()
        finally:
            out["size_total_s"] = round(time.monotonic() - size_started, 1)
            out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print("[%d hosts] done in %.1fs" % (hosts, out["size_total_s"]), flush=True)
    return out


def start_ssh_servers(fleet: Fleet, servers: List[SSHServer]) -> Callable[[str, Optional[str]], dict]:
    """sshd on the LB address and every host's (appended to ``servers`` as they start); the inventory transport."""
    addresses = [SSH_LB_ADDRESS] + [h.address for h in fleet.hosts]
    for first in range(0, len(addresses), SSHD_MAX_ADDRESSES):
        servers.append(SSHServer(addresses[first:first + SSHD_MAX_ADDRESSES]))
        servers[-1].start()
    by_address = {address: server for server in servers for address in server.addresses}

    def transport(name: str, address: Optional[str]) -> dict:
        return by_address[address or SSH_LB_ADDRESS].host_vars(name, address)
    return transport


def stop_ssh_servers(servers: List[SSHServer]) -> None:
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # pylint: disable=broad-except  # stop the others, then report
            errors.append(str(e))
    if errors:
        raise BenchError("; ".join(errors))


def _report_run(hosts: int, item: dict) -> None:
    r = item["result"]
    print("[%d hosts] %-8s rc=%d wall %.1fs, %d/%d requests failed, %d task results, %d banners, CPU %.1fs"
          % (hosts, r["tool"], r["rc"], r["wall_s"], r["failed_requests"], r["requests"], r["task_results"],
             r["task_banners"], r["cpu_s"]), flush=True)
    if r["rc"] != 0 or not r["all_hosts_on_target"]:
        print(item["run"].tail(), flush=True)


# ----------------------------------------------------------------------------- canary rollback

class WeightPoller:
    """Reads every server's admin state and weight from HAProxy every ``interval`` s in a thread."""

    def __init__(self, haproxy: FleetHAProxy, interval: float = 0.02) -> None:
        self.haproxy = haproxy
        self.interval = interval
        self.samples: List[Tuple[float, Dict[str, Tuple[str, int]]]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weight-poller", daemon=True)

    def __enter__(self) -> "WeightPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def read(self) -> Dict[str, Tuple[str, int]]:
        text = self.haproxy.command("show servers state %s" % self.haproxy.backend, timeout=2)
        lines = [line for line in text.splitlines() if line.strip()]
        header = next(line for line in lines if line.startswith("#"))[1:].split()
        rows = [dict(zip(header, line.split())) for line in lines if not line.startswith("#") and len(line.split()) >= len(header)]
        return {r["srv_name"]: (admin_name(int(r["srv_admin_state"])), int(r["srv_uweight"])) for r in rows}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                state = self.read()
                self.samples.append((time.monotonic(), state))
            except (OSError, StopIteration, ValueError, KeyError):
                self.errors += 1
            self._stop.wait(self.interval)


def bench_canary(fleet: Fleet, env: Dict[str, str], log_path: Path, args: argparse.Namespace) -> dict:
    """A canary of a release answering errors; time from the failed verdict until stable has all traffic."""
    bad = fleet.build_release("v4err", mode="errors")
    extra = {**FAST_GATES, **release_vars(bad), "deploy_strategy": "canary", "deploy_canary_count": 1,
             "deploy_canary_interval": args.canary_interval, "deploy_canary_min_requests": 10}
    canary = [fleet.hosts[0].name]
    stable = [h.name for h in fleet.hosts[1:]]
    marks: Dict[str, float] = {}
    current = {"task": ""}

    def on_line(now: float, line: str) -> None:
        m = BANNER.match(line)
        if m:
            current["task"] = m["name"] or ""
            if RESCUE_TASK in current["task"]:
                marks.setdefault("rescue_banner", now)
            return
        if CANARY_TASK in current["task"] and line.startswith(("[ERROR]", "fatal:", "failed:")):
            marks.setdefault("verdict", now)
        if "rescue_banner" in marks and SHIFT_TASK in current["task"] and line.startswith(("changed:", "ok:", "fatal:")):
            marks.setdefault("rescue_result", now)

    with WeightPoller(fleet.haproxy, args.poll_interval) as poller:
        item = deploy_under_load(fleet, "lastmile canary", lastmile_command(str(fleet.inventory_path), extra), env,
                                 log_path, args.timeout, "v3", on_line)
        run = item["run"]
    result = {"canary": canary, "stable": stable, "rc": run.rc, "wall_s": round(run.wall, 2),
              "rolled_back": run.rc != 0 and item["result"]["all_hosts_on_target"],
              "failed_requests": item["result"]["failed_requests"], "requests": item["result"]["requests"],
              "poll_interval_s": args.poll_interval, "polls": len(poller.samples), "poll_errors": poller.errors}
    if "verdict" not in marks:
        result["error"] = "no failed canary verdict in the output"
        print("[canary] %s\n%s" % (result["error"], run.tail()), flush=True)
        return result
    verdict = marks["verdict"]

    def serving(state: Dict[str, Tuple[str, int]]) -> bool:
        return any(state[n][0] == "ready" and state[n][1] > 0 for n in canary)

    def back_on_stable(state: Dict[str, Tuple[str, int]]) -> bool:
        return (not serving(state)) and all(state[n][0] == "ready" and state[n][1] > 0 for n in stable)

    last_serving = max((i for i, (t, s) in enumerate(poller.samples) if t <= verdict and serving(s)), default=None)
    back = None
    if last_serving is not None:
        back = next((t for t, s in poller.samples[last_serving + 1:] if back_on_stable(s)), None)
    result.update({
        "verdict_at_s": round(verdict - run.started, 3),
        "verdict_to_stable_s": round(back - verdict, 3) if back is not None else None,
        "verdict_to_rescue_task_start_s": round(marks["rescue_banner"] - verdict, 3) if "rescue_banner" in marks else None,
        "verdict_to_rescue_task_result_s": round(marks["rescue_result"] - verdict, 3) if "rescue_result" in marks else None,
        "verdict_to_end_of_run_s": round(run.started + run.wall - verdict, 2),
    })
    to_stable = result["verdict_to_stable_s"]
    print("[canary] rc=%d; verdict at %.2fs; all traffic on stable %s after it (HAProxy polled every %.0f ms); "
          "run ended %.1fs after it" % (run.rc, result["verdict_at_s"], "never" if to_stable is None else "%.3fs" % to_stable,
                                        args.poll_interval * 1000, result["verdict_to_end_of_run_s"]), flush=True)
    return result


# ----------------------------------------------------------------------------- 64 weights

class PlainHAProxy(FleetHAProxy):
    """The fleet's HAProxy with its servers unchecked: setting weights needs no application behind them."""

    def write_config(self) -> None:
        check_socket_path(self.socket)
        os.makedirs(self.rundir, exist_ok=True)
        text = render_config(self.servers, self.lb_port, self.rundir, self.tcp_admin_port, self.backend)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(re.sub(r"^(    server \S+ \S+) check$", r"\1", text, flags=re.M))


def bench_weights(args: argparse.Namespace, log_dir: Path, servers: int = 64) -> dict:
    """Set ``servers`` weights: in one round trip of the collection's client, through lastmile.deploy.haproxy_server
    with a weights dict, and with one community.general.haproxy call per server."""
    workdir = tempfile.mkdtemp(prefix="lmf-w", dir="/tmp")
    dead_port = free_port()  # nothing listens there, and nothing is sent: the servers are unchecked
    names = ["app%d" % i for i in range(1, servers + 1)]
    haproxy = PlainHAProxy(os.path.join(workdir, "lb"), [(n, "127.0.0.1", dead_port) for n in names], free_port())
    log_path = log_dir / "weights.log"
    out: dict = {"servers": servers}
    try:
        haproxy.start()
        client = CollectionHAProxy(haproxy.socket)

        def check(weight: int) -> None:
            seen = {n: s["weight"] for n, s in haproxy.server_states().items()}
            if set(seen.values()) != {weight} or len(seen) != servers:
                raise BenchError("weights after the change: %s; expected %d everywhere" % (seen, weight))

        rounds = args.weight_rounds
        single, applied = [], []
        for i in range(rounds):
            weight = 50 if i % 2 == 0 else 100
            commands = ["set server %s/%s weight %d" % (BACKEND, n, weight) for n in names]
            started = time.perf_counter()
            client.client.run(commands)
            single.append(time.perf_counter() - started)
            check(weight)
        for i in range(rounds):
            weight = 60 if i % 2 == 0 else 100
            started = time.perf_counter()
            client.apply(BACKEND, {n: {"weight": weight} for n in names})
            applied.append(time.perf_counter() - started)
            check(weight)
        out["client_one_round_trip"] = _stats(single)
        out["client_apply_read_change_readback"] = _stats(applied)

        inventory = os.path.join(workdir, "inventory.yml")
        with open(inventory, "w", encoding="utf-8") as f:
            yaml.safe_dump({"all": {"children": {"lb": {"hosts": {"lb1": {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}, f)
        env = ansible_env()
        ansible_runs = []
        for i in range(args.ansible_weight_rounds):
            weight = 70 if i % 2 == 0 else 100
            extra = {"bench_socket": haproxy.socket, "bench_backend": BACKEND, "bench_weights": {n: weight for n in names}}
            run = run_ansible("weights lastmile", [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory,
                                                   str(WEIGHTS_DIR / "lastmile.yml"), "-e", json.dumps(extra)],
                              env, log_path, args.timeout)
            if run.rc != 0:
                raise BenchError("lastmile.deploy.haproxy_server failed:\n%s" % run.tail())
            check(weight)
            ansible_runs.append(run)
        out["lastmile_haproxy_server_task"] = _stats([_task_seconds(r) for r in ansible_runs])
        out["lastmile_playbook_process"] = _stats([r.wall for r in ansible_runs])
        if args.community_weights:
            extra = {"bench_socket": haproxy.socket, "bench_backend": BACKEND, "bench_weights": {n: 80 for n in names}}
            run = run_ansible("weights community", [str(BENCH_VENV / "bin" / "ansible-playbook"), "-i", inventory,
                                                    str(WEIGHTS_DIR / "community.yml"), "-e", json.dumps(extra)],
                              env, log_path, args.timeout)
            if run.rc != 0:
                raise BenchError("community.general.haproxy failed:\n%s" % run.tail())
            check(80)
            out["community_haproxy_64_calls_task"] = _stats([_task_seconds(run)])
            out["community_playbook_process"] = _stats([run.wall])
    finally:
        haproxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("[weights] %d servers: one round trip %.1f ms, apply %.1f ms, haproxy_server task %.2fs%s"
          % (servers, out["client_one_round_trip"]["median_s"] * 1000,
             out["client_apply_read_change_readback"]["median_s"] * 1000, out["lastmile_haproxy_server_task"]["median_s"],
             ", %d community.general.haproxy calls %.2fs" % (servers, out["community_haproxy_64_calls_task"]["median_s"])
             if "community_haproxy_64_calls_task" in out else ""), flush=True)
    return out


def _task_seconds(run: AnsibleRun) -> float:
    """Seconds of the playbook's only task, banner to the next banner."""
    times = run.task_times()
    if len(times) != 1:
        raise BenchError("%s: expected one task, found %s" % (run.label, times))
    return times[0]["seconds"]


def _stats(values: Sequence[float]) -> dict:
    return {"n": len(values), "median_s": round(statistics.median(values), 4), "min_s": round(min(values), 4),
            "max_s": round(max(values), 4)}


# ----------------------------------------------------------------------------- report

def size_label(size: dict) -> str:
    """A fleet size as the report names it: "16", or "16 ssh" when it was reached over SSH."""
    transport = size.get("transport", "local")
    return "%d" % size["hosts"] if transport == "local" else "%d %s" % (size["hosts"], transport)


def markdown(results: dict) -> str:
    m = results["machine"]
    code = results.get("code", {})
    out = ["Machine: %s, %d cores, Python %s, ansible-core %s (lastmile) / %s with ansible %s (baseline); %s; "
           "lastmile.deploy at %s%s."
           % (m["platform"], m["cores"], m["python"], m["lastmile_ansible_core"], m["baseline_ansible_core"],
              m["baseline_ansible"], results["date"], code.get("commit", "unknown"),
              " + %d uncommitted files" % code["uncommitted_collection_files"] if code.get("uncommitted_collection_files") else ""),
           ""]
    out += ["| hosts | batches × size | forks | playbook | wall s | lastmile / baseline | failed requests | floor s | "
            "overhead s | task results | task banners | CPU s |",
            "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        for r in size.get("runs", []):
            ratio = "%.2f" % size["ratio_lastmile_to_baseline"] if r["tool"] == "lastmile" else ""
            bad = "" if r["rc"] == 0 and r["all_hosts_on_target"] else " (rc %d, not all on target)" % r["rc"]
            out.append("| %s | %d × %d | %d | %s%s | %.1f | %s | %d of %d | %.1f | %.1f | %d | %d | %.1f |"
                       % (size_label(size), size["batches"], size["batch"], size["forks"], r["tool"], bad, r["wall_s"], ratio,
                          r["failed_requests"], r["requests"], size["floor"]["floor_s"], r["overhead_s"],
                          r["task_results"], r["task_banners"], r["cpu_s"]))
    out.append("")
    out.append("Floor per batch = drain (measured) + service start + health window:")
    for size in results["sizes"]:
        if "floor" in size:
            w = size["waits"]
            load = size.get("load_average_at_start")
            out.append("- %s hosts: %.3f + %.2f + %.2f = %.2fs per batch, × %d batches = %.1fs; size took %.0fs in all%s"
                       % (size_label(size), size["drain"]["median_s"], w["service_start"], w["health_window"],
                          size["floor"]["per_batch_s"], size["batches"], size["floor"]["floor_s"], size["size_total_s"],
                          "; load average %s at its start, %s at its end" % (load[0], size["load_average_at_end"][0])
                          if load else ""))
    out.append("")
    out.append("Where the time goes (largest tasks, seconds summed over runs, banner to next banner):")
    for size in results["sizes"]:
        for r in size.get("runs", []):
            top = ", ".join("%s %.1fs ×%d" % (t["task"], t["seconds"], t["runs"]) for t in r["top_tasks"][:5])
            out.append("- %s hosts, %s: %s" % (size_label(size), r["tool"], top))
            if len(r.get("by_role", [])) > 1:
                out.append("  - by role: %s" % ", ".join("%s %.0fs" % (x["role"], x["seconds"]) for x in r["by_role"]))
    canary = next((s["canary_rollback"] for s in results["sizes"] if "canary_rollback" in s), None)
    if canary:
        out += ["", "| canary rollback (%d hosts, canary %s) | seconds |" % (len(canary["canary"]) + len(canary["stable"]),
                                                                             ", ".join(canary["canary"])), "|---|---:|"]
        for key, text in (("verdict_to_stable_s", "failed verdict → canary out, stable servers carry all weight"),
                          ("verdict_to_rescue_task_start_s", "failed verdict → rescue task starts"),
                          ("verdict_to_rescue_task_result_s", "failed verdict → the shift task reports its result"),
                          ("verdict_to_end_of_run_s", "failed verdict → end of run (canary host restored)"),
                          ("wall_s", "whole canary run")):
            value = canary.get(key)
            out.append("| %s | %s |" % (text, "%.3f" % value if isinstance(value, (int, float)) else "n/a"))
        out.append("")
        out.append("Canary run: rc %s, rolled back %s, %d of %d requests failed (the release answers 500 for 30 %% of its "
                   "share until the verdict)." % (canary["rc"], canary["rolled_back"], canary["failed_requests"], canary["requests"]))
    weights = results.get("weights")
    if weights:
        out += ["", "| set %d weights | median s | min s | max s | n |" % weights["servers"], "|---|---:|---:|---:|---:|"]
        for key, text in (("client_one_round_trip", "collection client, one round trip (64 commands)"),
                          ("client_apply_read_change_readback", "collection HAProxy.apply: read, change, read back"),
                          ("lastmile_haproxy_server_task", "lastmile.deploy.haproxy_server, weights dict (task)"),
                          ("lastmile_playbook_process", "the same, whole ansible-playbook process"),
                          ("community_haproxy_64_calls_task", "community.general.haproxy, 64 calls in a loop (task)"),
                          ("community_playbook_process", "the same, whole ansible-playbook process")):
            if key in weights:
                s = weights[key]
                out.append("| %s | %.4f | %.4f | %.4f | %d |" % (text, s["median_s"], s["min_s"], s["max_s"], s["n"]))
    return "\n".join(out)


def merge_results(paths: Sequence[Path]) -> dict:
    """One results dict from several files: every fleet size and transport (the last file wins one), the last weights."""
    merged: dict = {}
    sizes: Dict[Tuple[str, int], dict] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        merged = {**merged, **{k: v for k, v in data.items() if k not in ("sizes", "weights")}}
        if "weights" in data:
            merged["weights"] = data["weights"]
        for size in data.get("sizes", []):
            sizes[(size.get("transport", "local"), size["hosts"])] = size
    merged["date"] = ", ".join(json.loads(p.read_text(encoding="utf-8"))["date"] for p in paths)
    merged["sizes"] = [sizes[k] for k in sorted(sizes)]
    return merged


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=[4, 16], help="fleet sizes (default: 4 16; none: only the weights)")
    parser.add_argument("--transport", choices=["local", "ssh"], default="local",
                        help="how both playbooks reach the hosts: local connection (default), or SSH to the fleet's own "
                             "sshd on loopback as an unprivileged user, become root through sudo, pipelining on")
    parser.add_argument("--forks", type=int, default=0, help="ANSIBLE_FORKS for both playbooks (default: max(5, batch size))")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one ansible-playbook run is killed")
    parser.add_argument("--no-canary", dest="canary", action="store_false", help="skip the canary rollback timing")
    parser.add_argument("--canary-hosts", type=int, default=4, help="the fleet size that also times the canary rollback")
    parser.add_argument("--canary-interval", type=float, default=2, help="deploy_canary_interval of the canary run")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="seconds between HAProxy reads in the canary run")
    parser.add_argument("--no-weights", dest="weights", action="store_false", help="skip the 64-weights timing")
    parser.add_argument("--weight-rounds", type=int, default=20, help="repetitions of the direct client timings")
    parser.add_argument("--ansible-weight-rounds", type=int, default=3, help="repetitions of the haproxy_server playbook")
    parser.add_argument("--no-community-weights", dest="community_weights", action="store_false",
                        help="skip the 64 sequential community.general.haproxy calls")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default: benchmarks/results/<time>.json)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="run nothing: print the Markdown summary of these results files, merged (sizes in order)")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(merge_results(args.report)))
        return 0
    if any(h < 2 or h > 200 for h in args.hosts):
        parser.error("--hosts %s: expected sizes from 2 (a canary needs stable hosts beside it) to 200" % args.hosts)
    args.hosts = sorted(set(args.hosts))

    ensure_bench_venv()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="lastmile-bench-"))
    results = {"date": stamp, "batch": BATCH, "gates": FAST_GATES, "logs": str(log_dir), "code": code_version(),
               "machine": {"platform": platform.platform(), "cores": os.cpu_count() or 0, "python": platform.python_version(),
                           **engine_versions()},
               "sizes": []}
    print("logs in %s" % log_dir, flush=True)
    started = time.monotonic()
    for hosts in args.hosts:
        results["sizes"].append(bench_size(hosts, args, log_dir))
    if args.weights:
        results["weights"] = bench_weights(args, log_dir)
    results["total_s"] = round(time.monotonic() - started, 1)
    output = args.output or RESULTS / ("%s.json" % stamp)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if output.resolve().parent == RESULTS:
        shutil.copyfile(output, RESULTS / "latest.json")
    print()
    print(markdown(results))
    print("\nresults: %s (total %.0fs)" % (output, results["total_s"]))
    ok = all(r["rc"] == 0 and r["all_hosts_on_target"] for s in results["sizes"] for r in s.get("runs", []))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
