#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_variables
short_description: Check every variable a lastmile.deploy run will use, before it changes anything
version_added: 0.3.0
description:
  - Works out, for the host, the value each variable of the named roles will have when those roles run - the value
    the play sets, or else the role's default, templated with the host's variables - and checks it. The playbooks of
    the collection run it before they take the deployment lock, so a bad or missing variable stops the run before any
    host or the load balancer changes.
  - Finds a default that needs a variable nobody set, for example O(roles=[verify]) without C(deploy_port), whose
    default C(deploy_health_url) is C(http://<ansible_host>:<deploy_port>/health).
  - Checks types, choices and required variables against the collection's one declaration of its variables,
    C(meta/variables.yml) (from which the roles' argument specifications are generated), and the form of the values a
    run parses later (C(deploy_version), C(deploy_batch), C(deploy_canary_steps), C(deploy_checksum),
    C(deploy_artifact), C(deploy_health_url)); with the V(blue_green) role, that the colour groups hold hosts of the
    play and are disjoint; that each host of C(deploy_lb_hosts) is in the inventory; and, given O(hooks), that each of its
    phases is known and each of its task files exists.
  - Warns when the run sets a deprecated variable, naming the one to use instead.
  - Each problem names the variable, its value (never the value of a secret) and what was expected.
  - Runs on the controller only, as an action; it reads nothing on the host.
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: It only reads variables.
  connection:
    support: none
  delegation:
    support: none
    details: It runs on the controller whatever the host.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  roles:
    description:
      - Roles of lastmile.deploy whose variables the run uses, for example V([lock, precheck, rolling]). A role
        stands for the variables of its C(main) entry point; V(role:entry), for example V(traffic:restore), for those
        of one entry point the strategies include.
      - V(playbooks/deploy.yml) or V(playbooks/rollback.yml) stands for the variables that playbook reads
        itself, for example C(deploy_strategy) and the answers of V(auto).
    type: list
    elements: str
    required: true
  resolve:
    description:
      - Variables whose value for the host, as the roles will see it (role defaults and play variables
        included), the result carries in RV(resolved), so that a task run once for the play can read
        every host's value from its C(hostvars). A variable marked secret is refused.
    type: list
    elements: str
    default: []
    version_added: 0.4.0
  hooks:
    description:
      - The run's C(deploy_hooks), phase to a list of task files, checked and returned with absolute paths (RV(hooks)).
    type: raw
    version_added: 0.4.0
seealso:
  - name: ansible.builtin.validate_argument_spec
    description: Validates values a play sets against an argument specification, without role defaults.
    link: https://docs.ansible.com/ansible/latest/collections/ansible/builtin/validate_argument_spec_module.html
"""

EXAMPLES = r"""
- name: Check the variables of a rolling deployment before taking the lock
  lastmile.deploy.run_variables:
    roles: [lock, precheck, rolling]
"""

RETURN = r"""
problems:
  description: Why each variable that cannot be used cannot; empty when every variable can.
  returned: always
  type: list
  elements: str
  sample: ["deploy_batch 'abc': batch size 'abc' is not a number or a percentage such as 2 or '25%'"]
checked:
  description: The variables that have a value for the host, set or by default, and were checked.
  returned: always
  type: list
  elements: str
  sample: [deploy_app, deploy_batch, deploy_health_url, deploy_version]
empty:
  description:
    - The checked variables whose value for the host is empty (an empty list, mapping or string, or
      null), so that a step with nothing to do can be skipped once for every host.
  returned: always
  type: list
  elements: str
  sample: [deploy_precheck_tcp, deploy_precheck_urls]
  version_added: 0.4.0
resolved:
  description: The value for the host of each variable of O(resolve) that was checked and can be used.
  returned: when O(resolve) is a list of variables that are not secret
  type: dict
  sample: {deploy_lb_server: shop-app2}
  version_added: 0.4.0
hooks:
  description:
    - O(hooks) with each task file's absolute path (a relative one is read from the directory
      C(ansible-playbook) runs in); empty when a phase, a list or a file is wrong (see RV(problems)).
  returned: when O(hooks) is given
  type: dict
  sample: {once_before_switch: [/srv/deploy/hooks/migrate.yml]}
"""
