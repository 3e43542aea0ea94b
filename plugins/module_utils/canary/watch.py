# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_server's ``watch`` and ``then_drain``: the change, then the servers judged on the same HAProxy's
counters, then, when that went well, the next servers taken out.

Shared by the module (one module run on the LB host does all of it) and by its action plugin (in the
controller's own process when the task runs there).
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
    failed as canary_analysis fails; with ``then_drain``, once all that went well, those servers drained too.
    Bad watch options raise WatchOptionsError before anything is sent."""
    options = None
    if params.get("watch") is not None:
        options = watch_options(params["watch"], params)
        if isinstance(options, str):
            raise WatchOptionsError("watch: %s" % options, result=dict(changed=False))
    # with then_drain, min_serving guards the servers it takes out, not the change before
    result = change_servers(dict(params, min_serving=0) if params.get("then_drain") else params, check_mode, diff, warnings)
    if options is not None and not check_mode:
        _watch(options, result)
        if result.get("failed"):
            return result
    if params.get("then_drain"):
        _then_drain(params, result, check_mode, diff, warnings)
    return result


def _watch(options: dict, result: dict) -> None:
    """The verdict's figures into ``result`` under ``watch``; ``failed`` and ``msg`` when it failed."""
    try:
        watched = judge_step(options, False)
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


def _then_drain(params: dict, result: dict, check_mode: bool, diff: bool, warnings: List[str]) -> None:
    """``then_drain`` drained as O(state=drain) drains (min_serving, batch), always waiting for their sessions,
    merged into ``result``; ``drained`` lists them once a command was sent for them, also when the task fails."""
    drain = dict(params, name=params["then_drain"], state="drain", weight=None, weights=None, servers=None, watch=None,
                 wait=True, wait_timeout=params["drain_timeout"])
    try:
        drained = change_servers(drain, check_mode, diff, warnings)
    except LastmileError as exc:
        drained = failure(exc)
        result.update(failed=True, msg="then_drain: %s" % drained["msg"],
                      **{key: drained[key] for key in ("below_min_serving",) if key in drained})
    result["changed"] = bool(result.get("changed") or drained.get("changed"))
    result["commands"] = result.get("commands", []) + drained.get("commands", [])
    result["drained"] = list(params["then_drain"]) if drained.get("commands") else []
    if "servers" in drained:
        result["servers"] = drained["servers"]
    if diff and "diff" in drained:
        result["diff"] = dict(before=dict(result["diff"]["before"], **drained["diff"]["before"]),
                              after=dict(result["diff"]["after"], **drained["diff"]["after"]))
