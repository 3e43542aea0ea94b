# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_server's ``watch``: the change, then the servers judged on the same HAProxy's counters.

Shared by the module (one module run on the LB host does both) and by its action plugin (both in
the controller's own process when the task runs there).
"""

from __future__ import annotations

from typing import List, Union

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import AnalysisError
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.gate import ARGUMENT_SPEC, checked_options, judge_step
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import change_servers

__all__ = ["WatchOptionsError", "change_and_watch", "watch_options"]

WATCH_MODULE = "lastmile.deploy.canary_analysis"


class WatchOptionsError(LastmileError):
    """The watch's options are not canary_analysis's, or not usable; nothing was sent."""


def watch_options(watch: object, args: dict) -> Union[dict, str]:
    """canary_analysis's options for ``watch`` on the task's own socket and backend (``args``), validated, or what
    is wrong with them."""
    if not isinstance(watch, dict):
        return "expected a dict of %s's options, got %r" % (WATCH_MODULE, watch)
    given = sorted(set(watch) & {"socket", "backend"})
    if given:
        return "%s: the watch reads this task's HAProxy, leave them out" % ", ".join(given)
    options = dict(watch, backend=args.get("backend"), **({"socket": args["socket"]} if args.get("socket") else {}))
    validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(options)
    if validation.error_messages:
        msg = validation.errors.msg
        if isinstance(validation.errors[0], UnsupportedError):
            msg = "Unsupported parameters for (%s) module: %s" % (WATCH_MODULE, msg)
        return msg
    try:
        checked_options(validation.validated_parameters)
    except AnalysisError as exc:
        return str(exc)
    return validation.validated_parameters


def change_and_watch(params: dict, check_mode: bool, diff: bool, warnings: List[str]) -> dict:
    """change_servers' result; with ``watch`` (not in check mode), then the verdict's figures under ``watch``,
    failed as canary_analysis fails. Bad watch options raise WatchOptionsError before anything is sent."""
    options = None
    if params.get("watch") is not None:
        options = watch_options(params["watch"], params)
        if isinstance(options, str):
            raise WatchOptionsError("watch: %s" % options, result=dict(changed=False))
    result = change_servers(params, check_mode, diff, warnings)
    if options is None or check_mode:
        return result
    try:
        watched = judge_step(options, check_mode)
    except LastmileError as exc:
        watched = failure(exc)
    except Exception as exc:  # pylint: disable=broad-except
        # the servers were changed already: the result still says what was sent
        watched = dict(failed=True, msg="judging the LB counters failed unexpectedly: %s: %s" % (type(exc).__name__, exc))
    failed, msg = watched.pop("failed", False), watched.pop("msg", None)
    result["watch"] = watched
    result["changed"] = bool(result.get("changed") or watched.get("changed"))
    if failed:
        result.update(failed=True, msg=msg)
    return result
