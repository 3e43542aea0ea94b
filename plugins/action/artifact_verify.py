# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of artifact_verify: on the controller, verify (and download) in the task's own process."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.release.artifact import (
    ARGUMENT_SPEC,
    SPEC_RULES,
    run,
    secrets,
)
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.artifact_verify"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    SPEC_RULES = SPEC_RULES

    def secrets(self, params):
        return secrets(params)

    def run_here(self, params, check_mode, diff, warnings):
        return run(params, warnings.append)
