# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugins for modules that usually run on the controller: there, run them in-process.

Health probes, HAProxy runtime API calls and canary analysis run on the controller
(delegate_to: localhost) by default. Starting a module there costs a Python process that
compiles ansible.module_utils from source before it does anything: about 0.4 s of CPU per task
and host, on the critical path of every batch. When the task runs through the local connection,
with the controller's own Python, without become or async, these actions validate the arguments
against the module's own spec and call the same core function the module calls, in the worker
process. Anywhere else the module runs as usual.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, Dict, List, Optional, Set

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure


class ControllerModuleAction(ActionBase):
    """Subclasses name MODULE, give its ARGUMENT_SPEC (and SPEC_RULES) and implement ``run_here``."""

    TRANSFERS_FILES = False
    MODULE = ""
    ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = {}
    # mutually_exclusive, required_one_of, ... as AnsibleModule takes them
    SPEC_RULES: Dict[str, Any] = {}
    # A delegated host that cannot be reached fails the task instead of making the task's own host
    # unreachable (Ansible's way), which would drop that host from the play without its rescue:
    # an unreachable load balancer is the failure of the step that needed it.
    DELEGATE_UNREACHABLE_FAILS = False

    def runs_here(self, task_vars: Optional[Dict[str, Any]] = None) -> bool:
        """True when the module would run on this controller, with this Python, as this user, in the foreground."""
        return (getattr(self._connection, "transport", None) == "local"
                and not self._play_context.become and not self._task.async_val
                and self._same_python(task_vars or {}))

    def _same_python(self, task_vars: Dict[str, Any]) -> bool:
        """The interpreter the module would get is this process's own (or left to Ansible to find)."""
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to, task_vars)
        interpreter = host_vars.get("ansible_python_interpreter")
        if interpreter is None:
            return True
        interpreter = str(self._templar.template(interpreter))
        if interpreter.startswith("auto"):
            return True
        # the same bin directory is the same environment (a venv's python and python3 both count);
        # symlinks are not followed: a venv's python links to a base interpreter with other packages
        found = shutil.which(interpreter) or interpreter
        return os.path.dirname(os.path.abspath(found)) == os.path.dirname(os.path.abspath(sys.executable))

    def run_here(self, params: Dict[str, Any], check_mode: bool, diff: bool, warnings: List[str]) -> Dict[str, Any]:
        """The module's result for validated ``params``; raises LastmileError, as the module's core does, when it fails."""
        raise NotImplementedError

    def secrets(self, params: Dict[str, Any]) -> Set[str]:
        """Values besides the spec's no_log options to hide in the result (a password inside a URL)."""
        return set()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self.run_module(self.MODULE, self.ARGUMENT_SPEC, self.SPEC_RULES, self.run_here,
                                      self._task.args, task_vars))
        return result

    def run_module(self, module, spec, rules, run_here, args, task_vars):
        """The result of ``module`` with ``args``: through ``run_here`` in this process where the module would run
        on this controller (``args`` validated against ``spec`` and ``rules`` first), else as a module run."""
        if not self.runs_here(task_vars):
            try:
                return self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
            except AnsibleConnectionFailure as exc:
                if not (self.DELEGATE_UNREACHABLE_FAILS and self._task.delegate_to):
                    raise
                return dict(failed=True, msg="unreachable: %s" % exc.message)
        validation = ArgumentSpecValidator(spec, **rules).validate(args)
        if validation.error_messages:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (%s) module: %s" % (module, msg)
            return dict(failed=True, msg=msg)
        params = validation.validated_parameters
        warnings: List[str] = []
        try:
            outcome = run_here(params, bool(self._task.check_mode), bool(self._task.diff), warnings)
        except LastmileError as exc:
            outcome = failure(exc)
        if warnings:
            outcome["warnings"] = warnings
        # what a module does with its no_log values (tokens, passwords) before it answers
        return remove_values(outcome, validation._no_log_values | self.secrets(params))
