# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_capacity task: read the host's capacity, or take figures read earlier, and judge them.

Shared by the module and by its action plugin, which judges given figures on the controller:
they need nothing from the host (plugins/action/host_capacity.py).
"""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.figures import (
    CapacityError,
    check_capacity,
    check_sample_seconds,
    judge_capacity,
    report_from_figures,
)

__all__ = ["ARGUMENT_SPEC", "run"]

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/"),
    min_disk_free_percent=dict(type="float", default=20.0),
    max_cpu_percent=dict(type="float", default=70.0),
    max_memory_percent=dict(type="float", default=80.0),
    cpu_sample_seconds=dict(type="float", default=1.0),
    figures=dict(type="dict"),
)


def run(params: dict) -> dict:
    """The task's result: the figures; raises CapacityError, carrying the figures, when any threshold fails."""
    thresholds = (params["min_disk_free_percent"], params["max_cpu_percent"], params["max_memory_percent"])
    if params["figures"]:
        sample_seconds = check_sample_seconds(params["figures"].get("cpu_sample_seconds", params["cpu_sample_seconds"]),
                                              "figures.cpu_sample_seconds")
        report = judge_capacity(report_from_figures(params["figures"], params["path"]), *thresholds,
                                sample_seconds=sample_seconds)
    else:
        report = check_capacity(params["path"], *thresholds, sample_seconds=params["cpu_sample_seconds"])
    figures = report.as_dict()
    figures.pop("path")
    if report.failures:
        raise CapacityError("not enough capacity: %s" % "; ".join(report.failures), result=figures)
    return dict(figures, changed=False)
