# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of app_service: the module runs on the host; with ``verify``, the health probe then runs
from the controller in the task's own process, so that a batch is switched, restarted and verified in one step."""

from __future__ import annotations

import time

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.health.gate import ARGUMENT_SPEC, check_params, run

MODULE = "lastmile.deploy.app_service"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        verify = args.pop("verify", None)
        if verify is None:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        # before the host changes: options the probe would refuse stop the task here
        probe = self._probe_options(verify, (task_vars or {}).get("omit"))
        if "msg" not in probe and args.get("state") == "stopped":
            probe = dict(msg="a stopped service has no health to probe: verify is for state=started or restarted")
        if "msg" not in probe and self._task.async_val:
            probe = dict(msg="the probe follows the restart in the same task, which async would leave behind: "
                             "run verify without async")
        if "msg" in probe:
            result.update(failed=True, msg="verify: %s" % probe["msg"])
            return result
        try:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        except AnsibleConnectionFailure as exc:
            # a host that stops answering during its switch fails this step (its rescue runs) and stays
            # marked unreachable, so that the report says it dropped out
            result.update(failed=True, unreachable=True, msg="unreachable: %s" % exc.message)
            return result
        if result.get("failed") or self._task.check_mode:
            return result
        started = time.monotonic()
        try:
            health = run(probe["params"])
        except LastmileError as exc:
            health = failure(exc)
            result.update(failed=True, msg="the service runs, but it is not healthy: %s" % health.pop("msg"))
            health.pop("failed")
        # the probe's headers (often a token) are no_log options of health_check: hidden in what the probe
        # said, not in the module's own result, where a short value would hide unrelated fields
        result["health"] = remove_values(dict(health, seconds=round(time.monotonic() - started, 3)), probe["no_log"])
        if result.get("failed"):
            result["msg"] = remove_values(result["msg"], probe["no_log"])
        return result

    @staticmethod
    def _probe_options(verify, omit):
        """``{"params": ..., "no_log": ...}`` for health_check's options in ``verify``, or ``{"msg": ...}``."""
        if not isinstance(verify, dict):
            return dict(msg="expected a dict of lastmile.deploy.health_check's options, got %r" % (verify,))
        # a value left out with omit inside a dict stays its placeholder on older ansible-core releases
        verify = {key: value for key, value in verify.items() if omit is None or value != omit}
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(verify)
        if validation.error_messages:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (lastmile.deploy.health_check) module: %s" % msg
            return dict(msg=msg)
        try:
            check_params(validation.validated_parameters)
        except LastmileError as exc:
            return dict(msg=str(exc))
        return dict(params=validation.validated_parameters, no_log=validation._no_log_values)
