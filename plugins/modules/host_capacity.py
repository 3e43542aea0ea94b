#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_capacity
short_description: Check that a host has enough free disk, CPU and memory for a deployment
version_added: 0.1.0
description:
  - Measures free disk space on the filesystem holding O(path), CPU busy time over a short
    sample, used memory and the load average, and fails when any threshold is not met.
  - When O(path) does not exist yet (a first deployment's root), its nearest existing parent is
    measured.
  - All failed thresholds are reported in one message, each naming the measured value and the
    threshold, so a precheck fails before anything is changed on any host.
  - Needs only the Python standard library and Linux C(/proc).
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details:
      - Linux only (reads C(/proc/stat), C(/proc/meminfo) and C(/proc/loadavg)).
options:
  path:
    description:
      - A path on the filesystem whose free space is checked, usually the deployment root.
      - Must exist.
    type: path
    default: /
  min_disk_free_percent:
    description:
      - Lowest acceptable share of the filesystem still available to unprivileged users
        (space reserved for root does not count).
    type: float
    default: 20
  max_cpu_percent:
    description:
      - Highest acceptable CPU busy percentage (all CPUs together; I/O wait counts as idle).
    type: float
    default: 70
  max_memory_percent:
    description:
      - Highest acceptable used memory percentage, computed as 100 * (1 - MemAvailable / MemTotal).
    type: float
    default: 80
  cpu_sample_seconds:
    description:
      - Seconds between the two C(/proc/stat) readings that give the CPU figure, above 0 and at most 60; anything
        else (NaN, infinite) is refused before the host is read.
    type: float
    default: 1.0
  figures:
    description:
      - Judge these figures, read on the host earlier, instead of reading the host again, for
        example the C(capacity) that M(lastmile.deploy.deploy_lock) returned when it took the
        deployment lock. Keys C(disk_free_percent), C(cpu_percent) and C(memory_used_percent)
        (numbers) are required; C(load_average), C(cpu_sample_seconds) and C(path) are used in
        the result and the messages when present.
      - Given figures need nothing from the host, so the action plugin judges them on the
        controller, without a module run on the host.
    type: dict
notes:
  - The load average is reported, not checked.
  - On the controller through the local connection, without become or async, the action plugin
    measures in its own process instead of starting a module process.
seealso:
  - module: lastmile.deploy.artifact_verify
  - module: lastmile.deploy.health_check
"""

EXAMPLES = r"""
- name: Check capacity with the default thresholds
  lastmile.deploy.host_capacity:
    path: /opt/shop

- name: Allow busier hosts, demand more disk
  lastmile.deploy.host_capacity:
    path: /opt/shop
    min_disk_free_percent: 30
    max_cpu_percent: 90
    cpu_sample_seconds: 2
  register: capacity

- name: Judge the figures the deployment lock read when it was taken
  lastmile.deploy.host_capacity:
    figures: "{{ lock_taken.capacity }}"
    min_disk_free_percent: 15
"""

RETURN = r"""
disk_free_percent:
  description: Percentage of the filesystem holding O(path) available to unprivileged users.
  returned: always
  type: float
  sample: 63.41
cpu_percent:
  description: CPU busy percentage over O(cpu_sample_seconds).
  returned: always
  type: float
  sample: 12.5
memory_used_percent:
  description: Used memory percentage, 100 * (1 - MemAvailable / MemTotal).
  returned: always
  type: float
  sample: 41.07
load_average:
  description: The 1, 5 and 15 minute load averages.
  returned: always
  type: list
  elements: float
  sample: [0.42, 0.35, 0.3]
failures:
  description: One text per threshold not met, naming the figure, the value and the threshold.
  returned: always
  type: list
  elements: str
  sample: ["disk free on /opt/shop is 12.3% (minimum 20%)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.gate import ARGUMENT_SPEC, run


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module.params)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
