# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of haproxy_info: on the controller, read HAProxy from the task's own process."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import INFO_ARGUMENT_SPEC, read_servers
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.haproxy_info"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = INFO_ARGUMENT_SPEC

    def run_here(self, params, check_mode, diff, warnings):
        return read_servers(params)
