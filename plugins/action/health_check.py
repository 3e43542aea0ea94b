# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of health_check: on the controller, probe from the task's own process."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.health.gate import ARGUMENT_SPEC, run
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction

MODULE = "lastmile.deploy.health_check"


class ActionModule(ControllerModuleAction):
    MODULE = MODULE
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run_here(self, params, check_mode, diff, warnings):
        return run(params)
