#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take or give back the deployment lock of an application on a host
version_added: 0.3.0
description:
  - Keeps two runs of lastmile.deploy from changing the same application on the same host at once.
    The lock is C(<root>/.lastmile/lock.json) and names its holder - the user, the controller and
    the process of the C(ansible-playbook) run, when it was taken and for what.
  - O(state=present) takes the lock. When another run holds it the module fails and returns that
    run as RV(holder). Taking a lock the same run already holds changes nothing.
  - A lock left by a run that died can be broken with O(force=true). The module breaks it by itself
    only when the holder is provably dead - it ran on this same controller and its process is gone
    (or the process id now belongs to another process) - and then warns which lock it broke.
  - O(state=absent) gives the lock back if this run holds it and leaves another run's lock alone.
    Directories the lock created on a host never deployed to are removed again when still empty.
  - Needs only the Python standard library on the host.
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The action plugin on the controller fills in O(holder) and decides whether a holder is dead.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: In check mode a lock held by another run still fails; a free lock is reported as would-be-taken and not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  root:
    description: Deploy root of the application; the lock is C(.lastmile/lock.json) under it.
    type: path
    required: true
  state:
    description: V(present) takes the lock, V(absent) gives it back.
    type: str
    choices: [present, absent]
    default: present
  purpose:
    description: What the run does, recorded in the lock and shown to a run that is refused.
    type: str
  force:
    description: Break a lock held by another run. Only for a lock whose run is known to be dead.
    type: bool
    default: false
  memory:
    description:
      - With O(state=present), what this run keeps in its lock for a run that has to take over after
        it dies, for example the load balancer state to restore. Keeping it is not reported as a change.
      - A run that breaks the lock gets it back as RV(inherited).
    type: dict
  read_releases:
    description:
      - With O(state=present), also read the release state under O(root) once the lock is taken and
        return it as RV(releases_state), as M(lastmile.deploy.release_info) would. A run needs both
        at its start; reading them in one task saves a module run per host.
    type: bool
    default: false
  read_capacity:
    description:
      - With O(state=present), also measure the host's capacity once the lock is taken (free disk on
        the filesystem of O(read_capacity.path), CPU busy over O(read_capacity.cpu_sample_seconds),
        used memory, load average) and return the figures as RV(capacity), judging nothing.
        M(lastmile.deploy.host_capacity) judges them with its C(figures) option
        on the controller, so a run's prechecks need no module run of their own on the host.
    type: dict
    suboptions:
      path:
        description: A path on the filesystem whose free space is measured, usually the deploy root.
        type: path
        required: true
      cpu_sample_seconds:
        description: Seconds between the two C(/proc/stat) readings that give the CPU figure.
        type: float
        default: 1.0
  record:
    description:
      - With O(state=absent), record the outcome of a release in the host's history before giving the
        lock back, as M(lastmile.deploy.release) does with C(state=succeeded),
        V(failed) or V(rolled_back), so that a run ends with one module run per host instead of two.
      - The lock is given back also when recording fails; the task then fails naming the reason.
    type: dict
    suboptions:
      release:
        description: Release id whose newest history entry gets the outcome.
        type: str
        required: true
      outcome:
        description: The outcome recorded. After V(succeeded), releases beyond O(record.keep_releases) are removed.
        type: str
        required: true
        choices: [succeeded, failed, rolled_back]
      keep_releases:
        description: Releases kept after V(succeeded), as in M(lastmile.deploy.release). V(0) keeps all.
        type: int
        default: 5
  holder:
    description:
      - Who takes the lock. Set by the action plugin from the controller and the C(ansible-playbook)
        process; not meant to be set by hand.
    type: dict
notes:
  - The lock protects against a second run started while one is going on. A run interrupted on
    another controller (an AWX job killed in its container) cannot be proven dead from here; break
    its lock with O(force=true) once you know it is gone.
seealso:
  - module: lastmile.deploy.release
"""

EXAMPLES = r"""
- name: Take the deployment lock
  lastmile.deploy.deploy_lock:
    root: /opt/shop
    purpose: deployment of shop 1.4.2

- name: Take the lock and read what the host has, in one task
  lastmile.deploy.deploy_lock:
    root: /opt/shop
    purpose: deployment of shop 1.4.2
    read_releases: true
    read_capacity:
      path: /opt/shop
      cpu_sample_seconds: 0.5
  register: lock

- name: Judge the host's capacity from that reading, on the controller
  lastmile.deploy.host_capacity:
    figures: "{{ lock.capacity }}"

- name: Give the deployment lock back
  lastmile.deploy.deploy_lock:
    root: /opt/shop
    state: absent

- name: Record release 1.4.2 as deployed and give the lock back, in one task
  lastmile.deploy.deploy_lock:
    root: /opt/shop
    state: absent
    record:
      release: 1.4.2
      outcome: succeeded
      keep_releases: 5

- name: Break the lock of a run that died on another controller
  lastmile.deploy.deploy_lock:
    root: /opt/shop
    force: true
    purpose: deployment of shop 1.4.2
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
  sample: /opt/shop/.lastmile/lock.json
holder:
  description: Who holds the lock after the task (this run when it took it), or the run that holds it when the module failed.
  returned: when the lock is held
  type: dict
  contains:
    user:
      description: User running C(ansible-playbook).
      type: str
    controller:
      description: Host name of the controller.
      type: str
    pid:
      description: Process id of C(ansible-playbook) on the controller.
      type: int
    pid_start:
      description: Start time of that process in clock ticks since boot (Linux controllers), to tell a reused process id.
      type: int
    started:
      description: UTC time the lock was taken.
      type: str
    purpose:
      description: What the run does.
      type: str
  sample:
    user: alice
    controller: ctl1
    pid: 4242
    pid_start: 918273
    started: "2026-11-26T14:02:11Z"
    purpose: deployment of shop 1.4.2
broken:
  description: The holder whose lock was broken, null when none was.
  returned: always
  type: dict
  sample: null
inherited:
  description: What the run whose lock was broken kept in it (see O(memory)); empty when no lock was broken.
  returned: always
  type: dict
  sample: {lb_before: {web1: {admin: ready, weight: 100}}}
recorded:
  description: Whether O(record) changed the host's history (or removed releases).
  returned: with O(record)
  type: bool
  sample: true
removed:
  description: Releases removed after recording V(succeeded).
  returned: with O(record)
  type: list
  elements: str
  sample: [1.3.9]
releases_state:
  description:
    - The release state under O(root) once the lock was taken, with the keys M(lastmile.deploy.release_info)
      returns (current, current_status, previous, releases, history).
  returned: with O(read_releases=true) when the lock was taken and the release layout could be read
  type: dict
  sample: {current: 1.4.1, current_status: succeeded, previous: 1.4.0, releases: [1.4.0, 1.4.1], history: []}
capacity:
  description:
    - The host's capacity once the lock was taken, the figures M(lastmile.deploy.host_capacity) returns
      plus C(path) and C(cpu_sample_seconds); nothing is judged.
  returned: with O(read_capacity) when the lock was taken and the figures could be read
  type: dict
  sample: {path: /opt/shop, disk_free_percent: 63.41, cpu_percent: 12.5, cpu_sample_seconds: 0.5,
           memory_used_percent: 41.07, load_average: [0.42, 0.35, 0.3]}
capacity_error:
  description: Why the capacity could not be read; M(lastmile.deploy.host_capacity) then reads the host itself.
  returned: with O(read_capacity) when the lock was taken and the figures could not be read
  type: str
  sample: "cannot read /proc/meminfo: Permission denied"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils._capacity import CapacityError
from ansible_collections.lastmile.deploy.plugins.module_utils._capacity import read_capacity as read_capacity_figures
from ansible_collections.lastmile.deploy.plugins.module_utils._lock import (
    LockError,
    LockHeld,
    acquire,
    lock_path,
    read_holder,
    release,
    remember,
    timestamp,
)
from ansible_collections.lastmile.deploy.plugins.module_utils._release import ReleaseError, ReleaseRoot


def give_back(params: dict, holder: dict, check_mode: bool) -> tuple:
    """Record the outcome when asked, then give the lock back even if recording failed.

    Returns (lock changed, (history changed, removed releases), the recording error or None).
    """
    recorded, record_error = (False, []), None
    if params["record"]:
        record = params["record"]
        try:
            recorded = ReleaseRoot(params["root"], check_mode=check_mode).record(
                record["release"], record["outcome"], record["keep_releases"])
        except ReleaseError as exc:
            record_error = str(exc)
    return release(params["root"], holder, check_mode), recorded, record_error


def measure(read_capacity: dict) -> dict:
    """The capacity figures under ``capacity``, or why they could not be read under ``capacity_error``."""
    sample_seconds = read_capacity["cpu_sample_seconds"]
    try:
        figures = read_capacity_figures(read_capacity["path"], sample_seconds).as_dict()
    except CapacityError as exc:
        return dict(capacity_error=str(exc))
    figures.pop("failures")
    return dict(capacity=dict(figures, cpu_sample_seconds=sample_seconds))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purpose=dict(type="str"),
            force=dict(type="bool", default=False),
            memory=dict(type="dict"),
            read_releases=dict(type="bool", default=False),
            read_capacity=dict(type="dict", options=dict(
                path=dict(type="path", required=True),
                cpu_sample_seconds=dict(type="float", default=1.0),
            )),
            record=dict(type="dict", options=dict(
                release=dict(type="str", required=True),
                outcome=dict(type="str", required=True, choices=["succeeded", "failed", "rolled_back"]),
                keep_releases=dict(type="int", default=5),
            )),
            holder=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    holder = dict(params["holder"] or {})
    if not holder.get("controller") or not holder.get("pid"):
        module.fail_json(msg="holder %r lacks controller and pid: run deploy_lock as a task, whose action plugin sets them" % holder)
    holder.setdefault("started", timestamp())
    if params["purpose"]:
        holder["purpose"] = params["purpose"]
    path = lock_path(params["root"])
    broken = None
    try:
        if params["state"] == "present":
            changed, broken = acquire(params["root"], holder, params["force"], module.check_mode)
            if params["memory"] is not None:
                remember(params["root"], holder, "memory", params["memory"], module.check_mode)
        else:
            changed, recorded, record_error = give_back(params, holder, module.check_mode)
            if record_error:
                module.fail_json(msg="the lock was given back, but the outcome was not recorded: %s" % record_error,
                                 path=path, broken=None, inherited={})
        current = read_holder(path)
    except LockHeld as exc:
        module.fail_json(
            msg="%s: wait for that run to finish or, if it died, break the lock with force=true" % exc,
            path=path, holder=exc.holder, broken=None, inherited={})
    except LockError as exc:
        module.fail_json(msg=str(exc), path=path, broken=None, inherited={})
    result = dict(changed=changed, path=path, broken=broken and broken["holder"],
                  inherited=(broken or {}).get("memory") or {})
    if params["state"] == "present" and current is None and module.check_mode:
        current = holder
    if current is not None:
        result["holder"] = current
    if params["state"] == "absent" and params["record"]:
        result.update(recorded=recorded[0], removed=recorded[1])
        result["changed"] = result["changed"] or recorded[0]
    if params["state"] == "present" and params["read_releases"]:
        try:
            result["releases_state"] = ReleaseRoot(params["root"]).summary()
        except ReleaseError:
            pass  # the lock is taken; reading the releases on their own reports what is wrong
    if params["state"] == "present" and params["read_capacity"]:
        result.update(measure(params["read_capacity"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
