# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of host_capacity: figures read earlier are judged here, without a module run."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.gate import ARGUMENT_SPEC, run
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.host_capacity"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def runs_here(self, task_vars=None) -> bool:
        # given figures need nothing from the host
        return bool(self._task.args.get("figures")) or super().runs_here(task_vars)

    def run_here(self, params, check_mode, diff, warnings):
        return run(params)
