# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling deployments with lastmile.deploy at its defaults against the documentation-style rolling playbook.

For each fleet size: bring up a local fleet, seed v1 by hand, then under one steady load deploy v2 with
``lastmile.deploy.deploy`` at its defaults, v3 with benchmarks/baseline/rolling.yml (same batch) and
v4 with lastmile.deploy under FAST_GATES (second table), recording wall time, failed requests, task
steps, task results per host, what the gates cost and the CPU time of the ansible-playbook process
tree. Then, on the 4-host fleet, the time from a failed canary verdict until all traffic is back on
stable, and, on a 64-server HAProxy, the time to set 64 weights. See benchmarks/README.md.

    PYTHONPATH=tests .venv/bin/python benchmarks/run.py --hosts 4 16 64
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (BENCH, REPO / "tests", REPO / ".build" / "collections"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# pylint: disable=wrong-import-position  # after the path set-up above
from benchkit.ansible_run import code_version, engine_versions, ensure_bench_venv  # noqa: E402
from benchkit.fleet_size import FLEET_FORCED, bench_size  # noqa: E402
from benchkit.report import markdown, merge_results  # noqa: E402
from benchkit.weights import bench_weights  # noqa: E402
from fleet.playbook import FAST_GATES  # noqa: E402

RESULTS = BENCH / "results"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=[4, 16], help="fleet sizes (default: 4 16; none: only the weights)")
    parser.add_argument("--transport", choices=["local", "ssh"], default="local",
                        help="how both playbooks reach the hosts: local connection (default), or SSH to the fleet's own "
                             "sshd on loopback as an unprivileged user, become root through sudo, pipelining on")
    parser.add_argument("--forks", type=int, default=0, help="ANSIBLE_FORKS for both playbooks (default: max(5, batch size))")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one ansible-playbook run is killed")
    parser.add_argument("--no-fast-gates", dest="fast_gates", action="store_false",
                        help="skip the lastmile run under FAST_GATES (the second table)")
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
        try:
            print(markdown(merge_results(args.report)))
        except ValueError as e:
            parser.error(str(e))
        return 0
    if any(h < 2 or h > 200 for h in args.hosts):
        parser.error("--hosts %s: expected sizes from 2 (a canary needs stable hosts beside it) to 200" % args.hosts)
    args.hosts = sorted(set(args.hosts))

    ensure_bench_venv()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="lastmile-bench-"))
    results = {"date": stamp, "fleet_forced": FLEET_FORCED, "fast_gates": FAST_GATES, "logs": str(log_dir), "code": code_version(),
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
