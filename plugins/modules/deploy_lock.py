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
    The lock is C(<root>/.lastmile/lock.json) and names its holder - the user, the controller (its
    host name, machine id, boot id and PID namespace) and the process of the C(ansible-playbook) run,
    when it was taken and for what.
  - O(state=present) takes the lock. When another run holds it the module fails and returns that
    run as RV(holder). Taking a lock the same run already holds changes nothing.
  - A lock left by a run that died can be broken with O(force=true). The module breaks it by itself
    only when the holder is provably dead - it ran on this same controller (same host name, machine id,
    boot id and PID namespace, so not merely a container or CI runner with the same host name) and its
    process is gone (or the process id now belongs to another process) - and then warns which lock it broke.
    It then breaks only the lock of that dead run (O(break_holder)); when another run took the lock
    meanwhile, the task fails naming that run.
  - Every change of the lock on a host is made holding an exclusive C(flock) on
    C(<root>/.lastmile/lock.guard), so two runs on the same host can never both break and take it.
  - O(state=absent) gives the lock back if this run holds it and leaves another run's lock alone.
    Directories the lock of this run created on a host never deployed to (C(.lastmile) and the missing
    directories above it) are removed again when still empty; directories a broken lock names never are.
  - The deploy root may belong to the application's own user while runs are root (become). A link in place
    of C(.lastmile), C(lock.json) or C(lock.guard) is never followed - the task fails naming it - and
    temporary files are made only inside C(.lastmile). A lock file this user did not write (it belongs to
    another user, or it or C(.lastmile) can be written by others than its owner) can still be broken, but
    nothing it remembered is taken over; a warning names the file and its owner or mode.
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
    description: Break a lock held by another run, whichever run it is. Only for a lock whose run is known to be dead.
    type: bool
    default: false
  break_holder:
    description:
      - Break the lock only if the run with this holder id (RV(holder_id)) still holds it; when another run
        holds it, fail naming that run as with a held lock.
      - The action plugin sets it when it retries after finding the holder dead on this controller; O(force)
        is the blanket break a user asks for.
    type: str
  memory:
    description:
      - With O(state=present), what this run keeps in its lock for a run that has to take over after
        it dies. Keeping it is not reported as a change.
      - The one key kept is C(lb_before), the load balancer state to restore - a mapping of HAProxy server
        name to its state, with C(admin) one of V(ready), V(drain) or V(maint) and C(weight) an integer from
        0 to 256 (other plain values, such as C(up), may go with them). Anything else is refused before the
        lock is taken.
      - A run that breaks the lock gets it back as RV(inherited).
    type: dict
  read_releases:
    description:
      - Also read the release state under O(root) and return it as RV(releases_state), as
        M(lastmile.deploy.release_info) would - with O(state=present) once the lock is taken, with
        O(state=absent) once the outcome (O(record)) is recorded and the lock given back. A run needs
        both at its start and at its end; reading them in one task saves a module run per host.
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
        description:
          - Seconds between the two C(/proc/stat) readings that give the CPU figure, greater than 0 and
            at most 60. Any other value (including NaN and infinity) is refused before the lock is taken.
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
      - Who takes the lock. Set by the action plugin from the controller (host name and
        C(controller_identity)) and the C(ansible-playbook) process; not meant to be set by hand.
    type: dict
notes:
  - The lock protects against a second run started while one is going on. A run interrupted on
    another controller (an AWX job killed in its container) cannot be proven dead from here, nor can
    a run whose lock records no controller identity (taken by an older version); break its lock with
    O(force=true) once you know it is gone.
  - Judging a holder dead needs a Linux controller (C(/proc), a machine id); elsewhere a lock is broken
    only with O(force=true).
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
    controller_identity:
      description: What tells the controller from another with the same host name; a key is null where the controller cannot tell.
      type: dict
      contains:
        machine_id:
          description: C(/etc/machine-id) (or C(/var/lib/dbus/machine-id)) of the controller.
          type: str
        boot_id:
          description: C(/proc/sys/kernel/random/boot_id) of the controller, different after every boot.
          type: str
        pid_namespace:
          description: The PID namespace of C(ansible-playbook), as C(/proc/self/ns/pid) names it.
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
    controller_identity:
      machine_id: 3d1219c7c4c5404aaa1f6d2a48adfda4
      boot_id: 8a72b2a3-0d58-49e1-8e02-85c6ee837ac5
      pid_namespace: "pid:[4026531836]"
    pid: 4242
    pid_start: 918273
    started: "2026-11-26T14:02:11Z"
    purpose: deployment of shop 1.4.2
holder_id:
  description: The id of RV(holder), as O(break_holder) takes it.
  returned: when the lock is held
  type: str
  sample: "ctl1:4242:918273:3d1219c7c4c5404aaa1f6d2a48adfda4:8a72b2a3-0d58-49e1-8e02-85c6ee837ac5:pid:[4026531836]"
broken:
  description: The holder whose lock was broken, null when none was.
  returned: always
  type: dict
  sample: null
inherited:
  description:
    - What the run whose lock was broken kept in it (see O(memory)); empty when no lock was broken.
    - Only from a lock file this user wrote, and only the keys of the form O(memory) takes; anything else is
      left out with a warning.
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
    - The release state under O(root) once the lock was taken (O(state=present)) or given back (O(state=absent)),
      with the keys M(lastmile.deploy.release_info) returns (current, current_status, previous, releases, checksums, history).
  returned: with O(read_releases=true) when the lock was taken or given back and the release layout could be read
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

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.figures import CapacityError, check_sample_seconds
from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.figures import read_capacity as read_capacity_figures
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.lock.deployment_lock import (
    LockError,
    LockHeld,
    acquire,
    check_memory,
    holder_id,
    lock_path,
    read_holder,
    release,
    remember,
    timestamp,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError, ReleaseRoot


def give_back(params: dict, holder: dict, check_mode: bool) -> tuple:
    """Record the outcome when asked, then give the lock back even if recording failed.

    Returns (lock changed, (history changed, removed releases)); raises ReleaseError, after giving
    the lock back, when the outcome could not be recorded.
    """
    recorded, record_error = (False, []), None
    if params["record"]:
        record = params["record"]
        try:
            recorded = ReleaseRoot(params["root"], check_mode=check_mode).record(
                record["release"], record["outcome"], record["keep_releases"])
        except ReleaseError as exc:
            record_error = exc
    changed = release(params["root"], holder, check_mode)
    if record_error is not None:
        raise ReleaseError("the lock was given back, but the outcome was not recorded: %s" % record_error,
                           result=read_releases(params)) from record_error
    return changed, recorded


def read_releases(params: dict) -> dict:
    """The release state under ``releases_state`` when asked and readable, else nothing: the lock
    is taken or given back all the same; reading the releases on their own reports what is wrong."""
    if not params["read_releases"]:
        return {}
    try:
        return dict(releases_state=ReleaseRoot(params["root"]).summary())
    except ReleaseError:
        return {}


def check_sample_request(read_capacity: dict) -> None:
    """Raise CapacityError when O(read_capacity.cpu_sample_seconds) cannot be waited for."""
    try:
        check_sample_seconds(read_capacity["cpu_sample_seconds"], "read_capacity.cpu_sample_seconds")
    except CapacityError as exc:
        raise CapacityError("%s; nothing was changed" % exc) from None


def measure(read_capacity: dict) -> dict:
    """The capacity figures under ``capacity``, or why they could not be read under ``capacity_error``."""
    sample_seconds = read_capacity["cpu_sample_seconds"]
    try:
        figures = read_capacity_figures(read_capacity["path"], sample_seconds).as_dict()
    except CapacityError as exc:
        return dict(capacity_error=str(exc))
    figures.pop("failures")
    return dict(capacity=dict(figures, cpu_sample_seconds=sample_seconds))


def run(module: AnsibleModule) -> dict:
    """Take or give back the lock as asked; the task's result."""
    params = module.params
    # refused before the lock is taken: the CPU sample is waited for while holding it
    if params["state"] == "present" and params["read_capacity"]:
        check_sample_request(params["read_capacity"])
    holder = dict(params["holder"] or {})
    if not holder.get("controller") or not holder.get("pid"):
        raise LockError("holder %r lacks controller and pid: run deploy_lock as a task, whose action plugin sets them" % holder)
    holder.setdefault("started", timestamp())
    if params["purpose"]:
        holder["purpose"] = params["purpose"]
    path = lock_path(params["root"])
    broken = None
    try:
        if params["state"] == "present":
            if params["memory"] is not None:
                check_memory(params["memory"])
            changed, broken = acquire(params["root"], holder, params["force"], module.check_mode, params["break_holder"])
            if params["memory"] is not None:
                remember(params["root"], holder, "memory", params["memory"], module.check_mode)
        else:
            changed, recorded = give_back(params, holder, module.check_mode)
        current = read_holder(path)
    except (LockHeld, LockError, ReleaseError) as exc:
        raise exc.with_result(path=path, broken=None, inherited={})
    for warning in broken.warnings if broken else []:
        module.warn(warning)
    result = dict(changed=changed, path=path, broken=broken and broken.holder, inherited=broken.inherited if broken else {})
    if params["state"] == "present" and current is None and module.check_mode:
        current = holder
    if current is not None:
        result.update(holder=current, holder_id=holder_id(current))
    if params["state"] == "absent" and params["record"]:
        result.update(recorded=recorded[0], removed=recorded[1])
        result["changed"] = result["changed"] or recorded[0]
    result.update(read_releases(params))
    if params["state"] == "present" and params["read_capacity"]:
        result.update(measure(params["read_capacity"]))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purpose=dict(type="str"),
            force=dict(type="bool", default=False),
            break_holder=dict(type="str"),
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
    try:
        result = run(module)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
