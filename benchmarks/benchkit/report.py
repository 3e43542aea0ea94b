# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Markdown summary of a results file (benchmarks/README.md explains every column)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HEADER = ["| hosts | batches × size | forks | playbook | wall s | lastmile / baseline | failed requests | task steps | "
          "task results per host | LB, localhost results | verify s | watch s | capacity sample s | gates s (share of wall) | "
          "CPU s |",
          "|---:|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]


def size_label(size: dict) -> str:
    """A fleet size as the report names it: "16", or "16 ssh" when it was reached over SSH."""
    transport = size.get("transport", "local")
    return "%d" % size["hosts"] if transport == "local" else "%d %s" % (size["hosts"], transport)


def _run(size: dict, tool: str) -> Optional[dict]:
    return next((r for r in size.get("runs", []) if r["tool"] == tool), None)


def run_row(size: dict, r: dict, ratio: Optional[float]) -> str:
    bad = "" if r["rc"] == 0 and r["all_hosts_on_target"] else " (rc %d, not all on target)" % r["rc"]
    gates = r["gates"]
    others = ", ".join("%s %d" % (h, n) for h, n in r["other_hosts_task_results"].items()) or "-"
    share = "%.1f (%.0f %%)" % (gates["gates_s"], 100 * gates["gates_s"] / r["wall_s"]) if gates["gates_s"] else "-"
    return ("| %s | %d × %d | %d | %s%s | %.1f | %s | %d of %d | %d | %.1f | %s | %s | %s | %s | %s | %.1f |"
            % (size_label(size), size["batches"], size["batch"], size["forks"], r["tool"], bad, r["wall_s"],
               "%.2f" % ratio if ratio is not None else "", r["failed_requests"], r["requests"], r["task_steps"],
               r["task_results_per_host"], others,
               "%.1f" % gates["verify_s"] if gates["verify_tasks"] else "-",
               "%.1f" % gates["watch_s"] if gates.get("watch_tasks") else "-",
               "%.1f" % gates["capacity_sample_s"] if gates["capacity_tasks"] else "-", share, r["cpu_s"]))


def run_tables(sizes: Sequence[dict]) -> List[str]:
    """At the defaults against the baseline; then lastmile under FAST_GATES against the same baseline run."""
    out = ["lastmile.deploy at its defaults against the documentation-style playbook (same fleet, same run, same load):",
           ""] + HEADER
    for size in sizes:
        for tool, ratio in (("lastmile", size.get("ratio_lastmile_to_baseline")), ("baseline", None)):
            r = _run(size, tool)
            if r is not None:
                out.append(run_row(size, r, ratio))
    fast = [s for s in sizes if _run(s, "lastmile fast gates")]
    if fast:
        out += ["", "Second table: lastmile.deploy with FAST_GATES (tests/fleet/playbook.py), against the baseline run above:",
                ""] + HEADER
        for size in fast:
            out.append(run_row(size, _run(size, "lastmile fast gates"), size.get("ratio_fast_gates_to_baseline")))
    return out


def gate_lines(sizes: Sequence[dict]) -> List[str]:
    out = ["", "The price of the gates (measured in the run, bench_timeline callback):"]
    for size in sizes:
        for r in size.get("runs", []):
            g = r["gates"]
            if not (g["verify_tasks"] or g["capacity_tasks"]):
                continue
            out.append("- %s hosts, %s: verify window %d × (%d samples per host), %.1f s in all; watch on the LB counters "
                       "%d × %.1f s in all; capacity sample %.1f s (inside %d task(s) of %.1f s); %.1f s of %.1f s wall"
                       % (size_label(size), r["tool"], g["verify_tasks"], g["health_samples_per_host"], g["verify_s"],
                          g.get("watch_tasks", 0), g.get("watch_s", 0.0), g["capacity_sample_s"], g["capacity_tasks"],
                          g["capacity_task_s"], g["gates_s"], r["wall_s"]))
    for size in sizes:
        for kind, settings in size.get("gate_settings", {}).items():
            listed = ", ".join("%s=%s" % kv for kv in settings.items())
            out.append("- %s hosts, gate settings (%s): %s" % (size_label(size), kind.replace("_", " "), listed))
    return out


def floor_lines(sizes: Sequence[dict]) -> List[str]:
    out = ["", "Floor per batch = drain (measured) + service start + health window at the defaults:"]
    for size in sizes:
        if "floor" in size:
            w = size["waits"]
            load = size.get("load_average_at_start")
            out.append("- %s hosts: %.3f + %.2f + %.2f = %.2fs per batch, × %d batches = %.1fs; size took %.0fs in all%s"
                       % (size_label(size), size["drain"]["median_s"], w["service_start"], w["health_window"],
                          size["floor"]["per_batch_s"], size["batches"], size["floor"]["floor_s"], size["size_total_s"],
                          "; load average %s at its start, %s at its end" % (load[0], size["load_average_at_end"][0])
                          if load else ""))
    out += ["", "Where the time goes (largest tasks, seconds summed over their runs, task start to the next):"]
    for size in sizes:
        for r in size.get("runs", []):
            top = ", ".join("%s %.1fs ×%d" % (t["task"], t["seconds"], t["runs"]) for t in r["top_tasks"][:5])
            out.append("- %s hosts, %s: %s" % (size_label(size), r["tool"], top))
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    code = results.get("code", {})
    out = ["Machine: %s, %d cores, Python %s, ansible-core %s (lastmile) / %s with ansible %s (baseline); %s; "
           "lastmile.deploy at %s%s."
           % (m["platform"], m["cores"], m["python"], m["lastmile_ansible_core"], m["baseline_ansible_core"],
              m["baseline_ansible"], results["date"], code.get("commit", "unknown"),
              " + %d uncommitted files" % code["uncommitted_files"] if code.get("uncommitted_files") else ""),
           ""]
    out += run_tables(results["sizes"]) + gate_lines(results["sizes"]) + floor_lines(results["sizes"])
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
        if any("task_steps" not in r for size in data.get("sizes", []) for r in size.get("runs", [])):
            raise ValueError("%s was written by the earlier benchmark (FAST_GATES headline, no task steps per run): "
                             "its summary is in benchmarks/README.md" % path)
        merged = {**merged, **{k: v for k, v in data.items() if k not in ("sizes", "weights")}}
        if "weights" in data:
            merged["weights"] = data["weights"]
        for size in data.get("sizes", []):
            sizes[(size.get("transport", "local"), size["hosts"])] = size
    merged["date"] = ", ".join(json.loads(p.read_text(encoding="utf-8"))["date"] for p in paths)
    merged["sizes"] = [sizes[k] for k in sorted(sizes)]
    return merged
