# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of haproxy_server: on the controller, talk to HAProxy from the task's own process. With
``watch``, the servers are then judged on the LB counters (canary_analysis) in the same task."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import AnalysisError
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.gate import ARGUMENT_SPEC as WATCH_SPEC
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.gate import checked_options, judge_step
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import (
    SERVER_ARGUMENT_SPEC,
    SERVER_SPEC_RULES,
    change_servers,
)
from ansible_collections.lastmile.deploy.plugins.plugin_utils._controller_module import ControllerModuleAction

WATCH_MODULE = "lastmile.deploy.canary_analysis"


class ActionModule(ControllerModuleAction):
    MODULE = "lastmile.deploy.haproxy_server"
    DELEGATE_UNREACHABLE_FAILS = True
    ARGUMENT_SPEC = SERVER_ARGUMENT_SPEC
    SPEC_RULES = SERVER_SPEC_RULES

    def run_here(self, params, check_mode, diff, warnings):
        return change_servers(params, check_mode, diff, warnings)

    def run(self, tmp=None, task_vars=None):
        args = dict(self._task.args)
        watch = args.pop("watch", None)
        if watch is None:
            return super().run(tmp, task_vars)
        result = ActionBase.run(self, tmp, task_vars)
        # before the change: options the watch would refuse stop the task here
        options = watch_options(watch, args, (task_vars or {}).get("omit"))
        if isinstance(options, str):
            result.update(failed=True, msg="watch: %s" % options)
            return result
        result.update(self.run_module(self.MODULE, self.ARGUMENT_SPEC, self.SPEC_RULES, self.run_here, args, task_vars))
        if result.get("failed") or self._task.check_mode:
            return result
        watched = self.run_module(WATCH_MODULE, WATCH_SPEC, {}, judge_watch, options, task_vars)
        failed, msg = watched.pop("failed", False), watched.pop("msg", None)
        watched.pop("invocation", None)
        result["watch"] = watched
        result["changed"] = bool(result.get("changed") or watched.get("changed"))
        if failed:
            result.update(failed=True, msg=msg)
        return result


def judge_watch(params, check_mode, diff, warnings):
    return judge_step(params, check_mode)


def watch_options(watch, args, omit):
    """canary_analysis's options for ``watch`` on the task's own socket and backend, or what is wrong with them."""
    if not isinstance(watch, dict):
        return "expected a dict of lastmile.deploy.canary_analysis's options, got %r" % (watch,)
    # a value left out with omit inside a dict stays its placeholder on older ansible-core releases
    options = {key: value for key, value in watch.items() if omit is None or value != omit}
    given = sorted(set(options) & {"socket", "backend"})
    if given:
        return "%s: the watch reads this task's HAProxy, leave them out" % ", ".join(given)
    options.update(backend=args.get("backend"), **({"socket": args["socket"]} if "socket" in args else {}))
    validation = ArgumentSpecValidator(WATCH_SPEC).validate(options)
    if validation.error_messages:
        msg = validation.errors.msg
        if isinstance(validation.errors[0], UnsupportedError):
            msg = "Unsupported parameters for (%s) module: %s" % (WATCH_MODULE, msg)
        return msg
    try:
        checked_options(validation.validated_parameters)
    except AnalysisError as exc:
        return str(exc)
    return options
