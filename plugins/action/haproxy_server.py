# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of haproxy_server: on the controller, talk to HAProxy from the task's own process. With
``watch``, the servers are then judged on the LB counters (canary_analysis) in the same task: in this process,
else in the same module run on the delegated host."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.watch import change_and_watch, watch_options
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import SERVER_ARGUMENT_SPEC, SERVER_SPEC_RULES
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.haproxy_server"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = SERVER_ARGUMENT_SPEC
    SPEC_RULES = SERVER_SPEC_RULES

    def run_here(self, params, check_mode, diff, warnings):
        return change_and_watch(params, check_mode, diff, warnings)

    def run(self, tmp=None, task_vars=None):
        watch = self._task.args.get("watch")
        if watch is None:
            return super().run(tmp, task_vars)
        result = super(ControllerModuleAction, self).run(tmp, task_vars)
        # a value left out with omit inside a dict stays its placeholder on older ansible-core releases
        omit = (task_vars or {}).get("omit")
        if isinstance(watch, dict) and omit is not None:
            watch = {key: value for key, value in watch.items() if value != omit}
        args = dict(self._task.args, watch=watch)
        # before the change, and before any module run: options the watch would refuse stop the task here
        options = watch_options(watch, args)
        if isinstance(options, str):
            return dict(result, failed=True, msg="watch: %s" % options)
        result.update(self.run_module(self.MODULE, self.ARGUMENT_SPEC, self.SPEC_RULES, self.run_here, args, task_vars))
        return result
