# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet size: bring up the fleet, then under one steady load deploy with lastmile.deploy at its
defaults, with the documentation-style baseline, and with lastmile.deploy under FAST_GATES."""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import time
from pathlib import Path
from typing import List, Union

import yaml

from benchkit.ansible_run import REPO, BenchError, baseline_command, lastmile_command
from benchkit.canary import bench_canary
from benchkit.under_load import deploy_under_load
from benchkit.ssh import start_ssh_servers, stop_ssh_servers
from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import batch_size
from fleet import Fleet
from fleet.addresses import free_base_address
from fleet.haproxy import BACKEND
from fleet.playbook import FAST_GATES, ansible_env, release_vars
from fleet.sshd import SSHServer

# What the loopback fleet forces on a run at the defaults. Every "host" shares this machine's CPUs,
# so the CPU capacity gate (deploy_max_cpu_percent, 70 by default) judges the whole machine, busy
# with the load generator, HAProxy and every other host, not the host; it is set to 100 (the sample
# is still taken, for deploy_cpu_sample_seconds as by default). Disk and memory gates stay at their
# defaults: they judge the machine too, and it passes them.
FLEET_FORCED = {"deploy_max_cpu_percent": 100}
# lastmile's own default batch size (roles/rolling/defaults: deploy_batch: 1)
LASTMILE_DEFAULT_BATCH = 1


def batch_for(hosts: int) -> Union[int, str]:
    """The batch of both playbooks: one host at a time on small fleets (lastmile's default; 4 hosts,
    4 batches), a quarter of the fleet above 4 hosts (16 and 64 hosts: 4 batches too)."""
    return LASTMILE_DEFAULT_BATCH if hosts <= 4 else "25%"


def lastmile_vars(batch: Union[int, str], fast_gates: bool) -> dict:
    """Extra vars of a lastmile run beside the release: what the fleet forces, the batch when it is
    not the default, and FAST_GATES for the second table."""
    extra = dict(FLEET_FORCED)
    if batch != LASTMILE_DEFAULT_BATCH:
        extra["deploy_batch"] = batch
    if fast_gates:
        extra.update(FAST_GATES)
    return extra


def gate_settings(extra: dict) -> dict:
    """The verify and capacity settings a run used: its extra vars over the role defaults."""
    defaults: dict = {}
    for role in ("verify", "precheck"):
        path = REPO / "roles" / role / "defaults" / "main.yml"
        if path.exists():
            defaults.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    keys = ("deploy_verify_samples", "deploy_verify_interval", "deploy_health_timeout", "deploy_cpu_sample_seconds",
            "deploy_max_cpu_percent", "deploy_batch_observe_seconds")
    return {k: extra.get(k, defaults.get(k)) for k in keys}


def configured_waits(fleet: Fleet, gates: dict) -> dict:
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
    samples = int(gates["deploy_verify_samples"] or 0)
    interval = float(gates["deploy_verify_interval"] or 0)
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


def bench_size(hosts: int, args: argparse.Namespace, log_dir: Path) -> dict:
    size_started = time.monotonic()
    batch = batch_for(hosts)
    hosts_per_batch = batch_size(hosts, batch)
    batches = -(-hosts // hosts_per_batch)
    forks = args.forks or max(5, hosts_per_batch)
    env = ansible_env()
    env["ANSIBLE_FORKS"] = str(forks)
    log_path = log_dir / ("hosts-%d.log" % hosts)
    fleet = Fleet(hosts=hosts, base_address=free_base_address(hosts))
    ssh: List[SSHServer] = []
    out: dict = {"hosts": hosts, "transport": args.transport, "batch_setting": batch, "batch": hosts_per_batch,
                 "batches": batches, "forks": forks, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        fleet.start(timeout=max(20.0, hosts * 1.0))
        if args.transport == "ssh":
            fleet.write_inventory(transport=start_ssh_servers(fleet, ssh))
        fleet.install_release(fleet.build_release("v1"))
        fleet.wait_lb("UP", timeout=30 + hosts)
        out["setup_s"] = round(time.monotonic() - size_started, 1)
        defaults_extra = lastmile_vars(batch, fast_gates=False)
        out["gate_settings"] = {"defaults": gate_settings(defaults_extra)}
        waits = configured_waits(fleet, out["gate_settings"]["defaults"])
        with fleet.load():
            drain = measure_drain(fleet)
        floor = floor_of(batches, waits, drain["median_s"])
        out.update(waits=waits, drain=drain, floor=floor)
        inventory = str(fleet.inventory_path)
        print("[%d hosts] fleet up in %.1fs (batch %s: %d batches of %d, forks %d); floor %.2fs"
              % (hosts, out["setup_s"], batch, batches, hosts_per_batch, forks, floor["floor_s"]), flush=True)

        def deploy(label: str, version: str, command: List[str]) -> dict:
            item = deploy_under_load(fleet, label, command, env, log_path, args.timeout, version, forks)
            _report_run(hosts, item)
            return item["result"]

        v2 = fleet.build_release("v2")
        lastmile = deploy("lastmile", "v2", lastmile_command(inventory, {**defaults_extra, **release_vars(v2)}))
        v3 = fleet.build_release("v3")
        baseline = deploy("baseline", "v3", baseline_command(inventory, {**release_vars(v3), "baseline_batch": batch}))
        runs = [lastmile, baseline]
        out["ratio_lastmile_to_baseline"] = round(lastmile["wall_s"] / baseline["wall_s"], 2)
        served = "v3"
        if args.fast_gates:
            fast_extra = lastmile_vars(batch, fast_gates=True)
            out["gate_settings"]["fast_gates"] = gate_settings(fast_extra)
            v4 = fleet.build_release("v4")
            fast = deploy("lastmile fast gates", "v4", lastmile_command(inventory, {**fast_extra, **release_vars(v4)}))
            runs.append(fast)
            out["ratio_fast_gates_to_baseline"] = round(fast["wall_s"] / baseline["wall_s"], 2)
            served = "v4"
        for r in runs:
            r["overhead_s"] = round(r["wall_s"] - floor["floor_s"], 2)
        out["runs"] = runs
        if args.canary and hosts == args.canary_hosts:
            out["canary_rollback"] = bench_canary(fleet, env, log_path, args, served, forks)
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


def _report_run(hosts: int, item: dict) -> None:
    r = item["result"]
    print("[%d hosts] %-19s rc=%d wall %.1fs, %d/%d requests failed, %d task steps, %.1f task results per host, "
          "gates %.1fs, CPU %.1fs" % (hosts, r["tool"], r["rc"], r["wall_s"], r["failed_requests"], r["requests"],
                                      r["task_steps"], r["task_results_per_host"], r["gates"]["gates_s"], r["cpu_s"]),
          flush=True)
    if r["rc"] != 0 or not r["all_hosts_on_target"]:
        print(item["run"].tail(), flush=True)
