# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of haproxy_server: on the controller, talk to HAProxy from the task's own process. With
``watch``, the servers are then judged on the LB counters (canary_analysis) in the same task: in this process,
else in the same module run on the delegated host. With ``sent_by``, the hosts of a batch share one run of the
task (plugin_utils/_shared_run.py), and each fails only for what is its own."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible import constants as C

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.watch import change_and_watch, watch_options
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import SERVER_ARGUMENT_SPEC, SERVER_SPEC_RULES
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction
from ansible_collections.lastmile.deploy.plugins.plugin_utils._shared_run import SharedRun, SharedRunLost


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.haproxy_server"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = SERVER_ARGUMENT_SPEC
    SPEC_RULES = SERVER_SPEC_RULES

    def run_here(self, params, check_mode, diff, warnings):
        return change_and_watch(params, check_mode, diff, warnings)

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerModuleAction, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        sent_by, own_server = args.pop("sent_by", None), args.pop("own_server", None)
        if sent_by is None:
            result.update(self._change(args, task_vars))
            return result
        host = task_vars.get("inventory_hostname")
        if not isinstance(sent_by, list) or host not in sent_by or not all(isinstance(name, str) for name in sent_by):
            return dict(result, failed=True, msg="sent_by %r: expected a list of the hosts that run this task together, "
                        "%s among them" % (sent_by, host))
        if own_server is not None and not isinstance(own_server, str):
            return dict(result, failed=True, msg="own_server %r: expected the name of this host's server" % (own_server,))
        if len(sent_by) == 1:
            result.update(self._change(args, task_vars))
            return result
        loop_var = self._task.loop_control.loop_var if self._task.loop_control else "item"
        shared = SharedRun(C.DEFAULT_LOCAL_TMP, [self._task._uuid, self._task.delegate_to, task_vars.get(loop_var)],
                           sent_by, host)
        if shared.sends:
            outcome = shared.send(lambda: self._change(args, task_vars))
        else:
            try:
                outcome = shared.wait()
            except SharedRunLost as exc:
                outcome = dict(failed=True, msg=str(exc))
        result.update(_as_own(outcome, own_server, shared.sends, sent_by[0]))
        return result

    def _change(self, args: Dict[str, Any], task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """The task's result for ``args``: the change (and its watch and then_drain)."""
        watch = args.get("watch")
        if watch is not None:
            # a value left out with omit inside a dict stays its placeholder on older ansible-core releases
            omit = task_vars.get("omit")
            if isinstance(watch, dict) and omit is not None:
                watch = {key: value for key, value in watch.items() if value != omit}
            args = dict(args, watch=watch)
            # before the change, and before any module run: options the watch would refuse stop the task here
            options = watch_options(watch, args)
            if isinstance(options, str):
                return dict(failed=True, msg="watch: %s" % options)
        return self.run_module(self.MODULE, self.ARGUMENT_SPEC, self.SPEC_RULES, self.run_here, args, task_vars)


def _as_own(outcome: Dict[str, Any], own_server: Optional[str], sends: bool, sender: str) -> Dict[str, Any]:
    """The shared result as one host's: a watch that judged each server fails only the hosts whose server
    failed; then_drain's failure is the sender's; any other failure (the change itself) is every host's."""
    own = dict(outcome)
    if not own.get("failed"):
        return own
    failed_servers = (own.get("watch") or {}).get("failed_servers")
    if failed_servers and own_server is not None:
        if own_server in failed_servers:
            return own
    elif str(own.get("msg", "")).startswith("then_drain:"):
        if sends:
            return own
        own["then_drain_failed"] = "%s: %s" % (sender, own.get("msg"))
    else:
        return own
    own.pop("failed")
    own.pop("msg", None)
    return own
