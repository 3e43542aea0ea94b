# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a run from what the hosts and the load balancer said (module_utils/run/start.py), on the controller."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.run.dead_run import recovery
from ansible_collections.lastmile.deploy.plugins.module_utils.run.start import new_run_id, start

ARGUMENT_SPEC = dict(
    app=dict(type="str", required=True),
    hosts=dict(type="list", elements="str", required=True),
    lb=dict(type="dict"),
    backend=dict(type="str", default=""),
    # where each host's release state comes from: the lock's reading, or release's read (else the lock's)
    releases_from=dict(type="str", default="lock", choices=["lock", "read"]),
    # each host's server in the load balancer (deploy_lb_server as each host sees it); else its deploy_lb_name fact
    servers=dict(type="dict", default={}),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            return dict(result, failed=True, msg=validation.errors.msg)
        params = validation.validated_parameters
        hostvars = (task_vars or {}).get("hostvars") or {}
        hosts = params["hosts"]
        locks = {host: hostvars[host].get("lock_taken") for host in hosts}
        names = {host: str(params["servers"].get(host) or hostvars[host].get("deploy_lb_name", host)) for host in hosts}
        try:
            lb = start(params["app"], hosts, locks, names, params["lb"], params["backend"])
        except LastmileError as exc:
            return dict(result, **failure(exc))
        releases = {host: self._release_state(hostvars[host], params["releases_from"]) for host in hosts}
        dead_run = recovery(releases, locks, bool(self._play_context.check_mode))
        return dict(result, changed=False, lb_before=lb["before"], lb_now=lb["now"], lb_inherited=lb["inherited"],
                    left_out_hosts=lb["left_out"], run_id=new_run_id(), unverified_hosts=dead_run["unverified"],
                    recovered_hosts=dead_run["hosts"], recovered_message=dead_run["message"], servers=names,
                    releases=releases)

    @staticmethod
    def _release_state(facts, releases_from):
        """The host's release state: release's read of it (when asked and it read the host), else the lock's."""
        read = facts.get("release_read") if releases_from == "read" else None
        if isinstance(read, dict) and not read.get("skipped") and "current" in read:
            return read
        return (facts.get("lock_taken") or {}).get("releases_state")
