# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of haproxy_server: on the controller, talk to HAProxy from the task's own process."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import (
    SERVER_ARGUMENT_SPEC,
    SERVER_SPEC_RULES,
    change_servers,
)
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.haproxy_server"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = SERVER_ARGUMENT_SPEC
    SPEC_RULES = SERVER_SPEC_RULES

    def run_here(self, params, check_mode, diff, warnings):
        return change_servers(params, check_mode, diff, warnings)
