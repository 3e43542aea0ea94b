#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_service
short_description: Start, stop or restart the application under systemd or supervisor and wait until it runs
version_added: 0.3.0
description:
  - Drives the application's service through C(systemctl) or C(supervisorctl) and, after a start or
    restart, polls its status every 0.2 seconds until it runs, for at most O(timeout) seconds.
  - Under supervisor, a start or restart that supervisord answers with C(started) needs no poll,
    because it answers so only after the program stayed up for its C(startsecs).
  - Under supervisor, when O(supervisorctl) names the configuration (C(-c FILE)) or the server
    (C(-s URL)), the module asks supervisord over its XML-RPC interface (the UNIX socket or HTTP
    address in C([supervisorctl] serverurl), with its C(username) and C(password)) instead of
    starting C(supervisorctl), which is a Python program of its own. Otherwise, or when
    supervisord cannot be reached that way, it runs C(supervisorctl).
  - The supervisor password (O(supervisor_password), or C(-p) in O(supervisorctl)) is never passed on a
    command line, where every process listing shows it. Over XML-RPC it goes in the request's
    authorization header; a C(supervisorctl) that must run gets it in a configuration file of its own
    (mode 0600, in the module's temporary directory, removed after the run) together with the
    C(serverurl) and C(username) of the configuration it would have read, passed with C(-c).
    The password is left out of the module's result too.
  - The service manager stops the old process gracefully (SIGTERM, then its own stop timeout)
    before starting the new one.
  - Fails naming the service and its last status when it does not run in time, or at once when
    supervisor gives up on it (C(FATAL), C(EXITED)) or systemd reports it C(failed).
  - Needs only the Python standard library on the host.
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the status and reports whether the service would change; V(restarted) always would.
  diff_mode:
    support: partial
    details: With O(release), the diff shows where C(current) points before and after; the service itself has none.
  platform:
    platforms: posix
options:
  name:
    description: Unit name (systemd) or program name (supervisor).
    type: str
    required: true
  manager:
    description: What runs the service.
    type: str
    choices: [systemd, supervisor]
    default: systemd
  state:
    description: V(restarted) always restarts; V(started) and V(stopped) change the service only when needed.
    type: str
    choices: [started, stopped, restarted]
    default: restarted
  timeout:
    description: Seconds the service may take to run after a start or restart.
    type: float
    default: 30
  supervisorctl:
    description:
      - supervisorctl command line, split on spaces; may carry supervisorctl's options (C(-c FILE), C(-s URL),
        C(-u USER), C(-p PASSWORD), C(-r FILE), C(-i)), spelled as supervisorctl takes them, and nothing else.
      - Where it names the configuration or the server, the same supervisord is asked directly (see above).
      - A password in it is taken out of it (see above) and out of the result. Prefer O(supervisor_password), since
        the host's own log of module runs (syslog or journal) records this option as given.
      - A command line that supervisorctl would refuse (an unknown option, one given twice, arguments that are
        not options) fails the task before anything is run, and the result does not show this option.
    type: str
    default: supervisorctl
  supervisor_password:
    description:
      - Password for supervisord's C(username) (C(-u USER), or C(username) in the C([supervisorctl]) section
        of its configuration), given apart from O(supervisorctl), which then must carry no C(-p).
      - Never passed on a command line nor shown in the result (see above).
    type: str
  release:
    description:
      - With O(state=restarted), first point C(current) of a deploy root at this release, the way
        M(lastmile.deploy.release) does with C(state=current), then
        restart the service on it. One module run instead of two, for a step that is on the critical
        path of every batch.
      - The release must be unpacked; when it is not, the task fails before anything changes.
      - When the restart fails after the switch, the result still says so in RV(release.switched), so
        that a rollback knows to switch the host back.
      - When C(current) was switched but the switch could not be recorded in the host's history
        (C(.lastmile/state.json), for example on a full disk), the service is still restarted on the release
        C(current) now points at, and the task fails saying both, with RV(release.switched=true) and
        RV(release.recorded=false).
    type: dict
    suboptions:
      root:
        description: Deploy root holding C(releases/) and the C(current) link.
        type: path
        required: true
      version:
        description: Release C(current) points at before the restart.
        type: str
        required: true
      run:
        description:
          - Id of the run that switches, recorded in the history entry of the switch, so that
            M(lastmile.deploy.release_info) and a rollback tell which hosts one run changed.
        type: str
      restore:
        description:
          - The switch puts back an earlier release (the restore of a failed run, a rollback). Its history
            entry says so, and the rollback target is judged from the entry of the run that put the release
            in place first.
        type: bool
        default: false
  verify:
    description:
      - Once the service runs (after a start or restart that succeeded, or found running with
        O(state=started)), probe its health with these options of
        M(lastmile.deploy.health_check) (C(url) and the others, by their
        names), from the controller, in the task's own process, so that one task switches, restarts and
        verifies.
      - The options are checked before anything on the host changes; options the probe would refuse fail the
        task then.
      - The task fails when the probe fails, with the probe's figures in RV(health). A host that stops answering
        during the switch or restart fails the task as well, and its result is marked C(unreachable), so that a
        rescue runs for it.
      - Check mode sends no probe. Not with O(state=stopped), nor with C(async), which would leave the probe
        behind the restart.
    type: dict
    version_added: 0.4.0
seealso:
  - module: lastmile.deploy.health_check
  - module: lastmile.deploy.release
"""

EXAMPLES = r"""
- name: Restart the application and wait until supervisor reports it RUNNING
  lastmile.deploy.app_service:
    name: shop
    manager: supervisor
    supervisorctl: supervisorctl -c /etc/supervisor/supervisord.conf
    timeout: 20

- name: Restart it under a supervisord that asks for a username and password
  lastmile.deploy.app_service:
    name: shop
    manager: supervisor
    supervisorctl: supervisorctl -c /etc/supervisor/supervisord.conf -u deployer
    supervisor_password: "{{ vault_supervisor_password }}"

- name: Point current at release 1.4.2, restart the application on it, then probe its health from the controller
  lastmile.deploy.app_service:
    name: shop
    manager: supervisor
    release:
      root: /opt/shop
      version: 1.4.2
    verify:
      url: "http://{{ inventory_hostname }}:8080/health"
      samples: 20
  register: shop_restart

- name: Stop the application's systemd unit
  lastmile.deploy.app_service:
    name: shop
    state: stopped
"""

RETURN = r"""
status:
  description: Status of the service afterwards as its manager reports it (C(RUNNING), C(STOPPED), C(active), ...); null in check mode when it would change.
  returned: always
  type: str
  sample: RUNNING
release:
  description: With O(release), the switch of C(current) made before the restart.
  returned: when O(release) is given, also when the restart failed
  type: dict
  contains:
    version:
      description: Release C(current) points at now.
      type: str
    previous:
      description: Release C(current) pointed at before, null if none.
      type: str
    switched:
      description: Whether C(current) changed (in check mode, whether it would).
      type: bool
    recorded:
      description: Whether the switch is recorded in the host's history (in check mode, whether it would be); false
        when C(current) changed but the history could not be written.
      type: bool
      version_added: 0.3.0
  sample:
    version: 1.4.2
    previous: 1.4.1
    switched: true
    recorded: true
health:
  description:
    - With O(verify), what the health probe saw, as M(lastmile.deploy.health_check) returns it (C(healthy),
      C(attempts), C(status), C(latency_ms), C(stats) of the samples), and the C(seconds) it took.
  returned: when O(verify) is given and the service runs, also when the probe failed
  type: dict
  version_added: 0.4.0
  sample:
    healthy: true
    attempts: 3
    status: 200
    latency_ms: 2.1
    seconds: 1.24
"""

from typing import Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError, ReleaseRoot, SwitchNotRecorded
from ansible_collections.lastmile.deploy.plugins.module_utils.service.manager import Service, ServiceError
from ansible_collections.lastmile.deploy.plugins.module_utils.service.supervisor import CommandLineError, SupervisorctlCommand


def switch_release(release: dict, check_mode: bool) -> Tuple[dict, Optional[str]]:
    """Point current at the release: what happened, and why the switch could not be recorded (or None).

    Raises ReleaseError before any change when it cannot switch.
    """
    tree = ReleaseRoot(release["root"], check_mode=check_mode)
    previous = tree.current
    if check_mode:
        # a check run never unpacks: a release staged earlier in the same run counts as there,
        # as with lastmile.deploy.release
        tree.unpack(release["version"])
    try:
        switched = tree.switch_current(release["version"], release.get("run"), bool(release.get("restore")))["changed"]
    except SwitchNotRecorded as exc:
        return dict(version=release["version"], previous=previous, switched=True, recorded=False), str(exc)
    return dict(version=release["version"], previous=previous, switched=switched, recorded=switched), None


def run(module: AnsibleModule, command: Optional[SupervisorctlCommand]) -> dict:
    """Switch the release when asked, then bring the service to its state; the task's result."""
    params = module.params
    if params["release"] and params["state"] != "restarted":
        raise ServiceError("release is only for state=restarted (a started service would keep running the old "
                           "release, a stopped one none), got state=%s" % params["state"])

    def run_command(argv):
        return module.run_command(argv)

    result = {}
    unrecorded = None
    try:
        supervisor = {}
        if params["manager"] == "supervisor":
            supervisor = dict(
                supervisorctl=command,
                # a start waits up to the program's startsecs inside supervisord: room beyond our own timeout
                rpc=command.rpc(timeout=params["timeout"] + 30),
                # a password file for supervisorctl goes where Ansible cleans up after the module
                private_dir=module.tmpdir if command.password is not None else None)
        service = Service(params["manager"], params["name"], run_command, **supervisor)
        if params["release"]:
            result["release"], unrecorded = switch_release(params["release"], module.check_mode)
        # also when the switch was not recorded: the service runs the release current points at
        changed, status = service.ensure(params["state"], params["timeout"], module.check_mode)
    except (ServiceError, ReleaseError) as exc:
        switched = dict(result, changed=bool(result.get("release", {}).get("switched")))
        if unrecorded:
            raise ServiceError("%s; %s" % (exc, unrecorded), result=switched) from exc
        raise exc.with_result(**switched)
    if unrecorded:
        raise SwitchNotRecorded("%s; the service was restarted on it" % unrecorded,
                                result=dict(result, changed=True, status=status))
    if module._diff and "release" in result:
        switch = result["release"]
        result["diff"] = dict(before=dict(current=switch["previous"]), after=dict(current=switch["version"]))
    return dict(result, changed=changed, status=status)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            manager=dict(type="str", choices=["systemd", "supervisor"], default="systemd"),
            state=dict(type="str", choices=["started", "stopped", "restarted"], default="restarted"),
            timeout=dict(type="float", default=30),
            supervisorctl=dict(type="str", default="supervisorctl"),
            supervisor_password=dict(type="str", no_log=True),
            release=dict(type="dict", options=dict(root=dict(type="path", required=True),
                                                   version=dict(type="str", required=True),
                                                   run=dict(type="str"),
                                                   restore=dict(type="bool", default=False))),
            # the action plugin probes from the controller and never sends it here
            verify=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # first, before any result: a password on the command line is a no_log value like supervisor_password
    command = None
    try:
        command = SupervisorctlCommand(params["supervisorctl"].split(), password=params["supervisor_password"])
    except CommandLineError as exc:
        # which word of it is a password cannot be told: none of it is shown
        if params["supervisorctl"]:
            module.no_log_values.add(params["supervisorctl"])
        if params["manager"] == "supervisor":
            module.fail_json(**failure(exc))
    if command is not None and command.password:
        module.no_log_values.add(command.password)
    try:
        result = run(module, command)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
