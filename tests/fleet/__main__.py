# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: ``python -m fleet up|down|status|build|install|load|demo`` (run with PYTHONPATH=tests)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import List, Optional

from fleet.addresses import free_base_address
from fleet.artifacts import MODES, find_artifact
from fleet.demo import main as run_demo
from fleet.fleet import Fleet
from fleet.procs import FleetError


def _options(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in ("error_rate", "start_delay", "response_delay")
            if getattr(args, name) is not None}


def _base_address(value: str) -> str:
    if value != "auto" and not value.isdigit():
        raise argparse.ArgumentTypeError("%r: expected a number (last octet of 127.0.0.x) or 'auto'" % value)
    return value


def cmd_up(args: argparse.Namespace) -> int:
    if os.path.exists(os.path.join(args.dir, "fleet.json")) and Fleet.attach(args.dir).processes():
        raise FleetError("a fleet is already running in %s: run 'down' first" % args.dir)
    base_address = free_base_address(args.hosts) if args.base_address == "auto" else int(args.base_address)
    fleet = Fleet(workdir=args.dir, hosts=args.hosts, base_address=base_address, lb_port=args.lb_port,
                  tcp_admin=args.tcp_admin, keep_workdir=True)
    fleet.start()
    print(json.dumps(fleet.describe(), indent=2))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    fleet = Fleet.attach(args.dir)
    killed = fleet.stop(remove_workdir=args.purge)
    for pid, cmdline in killed.items():
        print("killed leftover %d: %s" % (pid, cmdline), file=sys.stderr)
    print("fleet in %s stopped%s" % (args.dir, " and removed" if args.purge else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    fleet = Fleet.attach(args.dir)
    status = fleet.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print("front door %s" % status["frontend_url"])
    servers = status["haproxy"]
    for h in status["hosts"]:
        lb = servers.get(h["name"], {}) if isinstance(servers.get(h["name"]), dict) else {}
        print("%-6s %-12s supervisor=%-8s current=%-16s version=%-10s lb=%s/%s/w%s" % (
            h["name"], h["address"], h["status"], h["current"] or "-", h["version"] or "-",
            lb.get("status", "?"), lb.get("admin", "?"), lb.get("weight", "?")))
    if "error" in servers:
        print("haproxy: %s" % servers["error"])
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    fleet = Fleet.attach(args.dir) if os.path.exists(os.path.join(args.dir, "fleet.json")) else None
    if fleet is not None:
        artifact = fleet.build_release(args.version, args.mode, **_options(args))
    else:
        from fleet.artifacts import build_release
        artifact = build_release(os.path.join(args.dir, "artifacts"), args.version, args.mode, **_options(args))
    print(json.dumps(asdict(artifact), indent=2))
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    fleet = Fleet.attach(args.dir)
    artifact = find_artifact(fleet.artifacts_dir, args.version)
    if artifact is None:
        raise FleetError("no artifact for version %r in %s: run 'build' first" % (args.version, fleet.artifacts_dir))
    hosts = args.hosts.split(",") if args.hosts else None
    print(json.dumps(fleet.install_release(artifact, hosts), indent=2))
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    fleet = Fleet.attach(args.dir)
    with fleet.load(concurrency=args.concurrency, pause=args.pause) as gen:
        time.sleep(args.seconds)
    report = gen.stop()
    print(report.summary())
    return 0 if report.failed == 0 else 1


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fleet", description="local lastmile.deploy test fleet")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start a fleet and leave it running")
    up.add_argument("--dir", required=True, help="work dir (keep it short, e.g. /tmp/lmf-demo)")
    up.add_argument("--hosts", type=int, default=4)
    up.add_argument("--base-address", default="11", type=_base_address,
                    help="first host is 127.0.0.<this>; 'auto' takes a free block")
    up.add_argument("--lb-port", type=int, default=None, help="frontend port (default: a free one)")
    up.add_argument("--tcp-admin", action="store_true", help="also expose the admin API on 127.0.0.1:<port>")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop a fleet started with up")
    down.add_argument("--dir", required=True)
    down.add_argument("--purge", action="store_true", help="also remove the work dir")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="show hosts and HAProxy servers")
    status.add_argument("--dir", required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    build = sub.add_parser("build", help="build a sample release into <dir>/artifacts")
    build.add_argument("--dir", required=True)
    build.add_argument("--version", required=True)
    build.add_argument("--mode", choices=MODES, default="good")
    build.add_argument("--error-rate", type=float, default=None)
    build.add_argument("--start-delay", type=float, default=None)
    build.add_argument("--response-delay", type=float, default=None)
    build.set_defaults(func=cmd_build)

    install = sub.add_parser("install", help="seed a built release by hand (not through the collection)")
    install.add_argument("--dir", required=True)
    install.add_argument("--version", required=True)
    install.add_argument("--hosts", default=None, help="comma-separated host names (default: all)")
    install.set_defaults(func=cmd_install)

    load = sub.add_parser("load", help="run load through the front door and print the report")
    load.add_argument("--dir", required=True)
    load.add_argument("--seconds", type=float, default=5.0)
    load.add_argument("--concurrency", type=int, default=4)
    load.add_argument("--pause", type=float, default=0.0)
    load.set_defaults(func=cmd_load)

    demo = sub.add_parser("demo", help="rolling v1, canary v2 promoted, bad canary v3 rolled back, under live load on a fresh 4-host fleet")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except FleetError as e:
        print("fleet: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
