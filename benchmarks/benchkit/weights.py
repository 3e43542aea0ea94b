# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Setting 64 HAProxy weights: the collection's client, its module as a task, community.general.haproxy."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import yaml

from benchkit.ansible_run import BENCH, BENCH_VENV, AnsibleRun, BenchError, run_ansible
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import HAProxy as CollectionHAProxy
from fleet.haproxy import BACKEND, HAProxy as FleetHAProxy, render_config
from fleet.playbook import ansible_env
from fleet.procs import check_socket_path, free_port

WEIGHTS_DIR = BENCH / "weights"


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
    """Seconds of the playbook's only task, from its start to the end of the run (bench_timeline)."""
    if len(run.spans) != 1:
        raise BenchError("%s: expected one task, found %s" % (run.label, [s["name"] for s in run.spans]))
    return run.spans[0]["seconds"]


def _stats(values: Sequence[float]) -> dict:
    return {"n": len(values), "median_s": round(statistics.median(values), 4), "min_s": round(min(values), 4),
            "max_s": round(max(values), 4)}
