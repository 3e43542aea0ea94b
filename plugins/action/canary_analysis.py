# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of canary_analysis: on the controller, judge the step from the task's own process."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.gate import ARGUMENT_SPEC, judge_step
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.canary_analysis"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run_here(self, params, check_mode, diff, warnings):
        return judge_step(params, check_mode)
