# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.failure_reason`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: failure_reason
short_description: Why a task failed, also when it failed on some items of a loop
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Returns the C(msg) of a failed task result. For a loop, where Ansible's own C(msg) only says that one or more
    items failed, returns each failed item's C(msg) after its loop item, joined with C(; ); a task that loops over the
    load-balancer hosts thus names the one that failed. An item that is a list or a dict is named by its loop label
    when the result still has it, else a list by its first element.
  - Returns O(default) for a result that says nothing.
options:
  _input:
    description: A registered task result, or C(ansible_failed_result).
    type: dict
    required: true
  default:
    description: What to return when the result carries no message.
    type: str
    default: failed
"""

EXAMPLES = r"""
- name: Say which load-balancer host refused the drain
  ansible.builtin.debug:
    msg: >-
      {{ {'failed': true, 'msg': 'One or more items failed', 'results': [
           {'item': 'lb1', 'changed': true},
           {'item': 'lb2', 'failed': true, 'msg': 'socket /run/haproxy/admin.sock: connection refused'}]}
         | lastmile.deploy.failure_reason }}
  # => ("lb2: socket /run/haproxy/admin.sock: connection refused")
"""

RETURN = r"""
_value:
  description: The failure's message; for a loop, each failed item's, after the item.
  type: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _item(result: Mapping) -> str:
    value = result.get(result.get("ansible_loop_var") or "item", "")
    if not isinstance(value, (list, tuple, Mapping)):
        return str(value)
    # a registered result keeps no label: a list item (an LB host and what was sent to it) is named by its first element
    fallback = value[0] if isinstance(value, (list, tuple)) and value else value
    return str(result.get("_ansible_item_label") or fallback)


def _failed(item) -> bool:
    return isinstance(item, Mapping) and bool(item.get("failed") or item.get("unreachable"))


def failure_reason(result, default="failed"):
    """The message of a failed result; for a loop, each failed item's after its item."""
    if not isinstance(result, Mapping):
        raise AnsibleFilterError("failure_reason expects a task result (a dict), got %r" % (result,))
    items = [item for item in result.get("results") or [] if _failed(item)]
    if items:
        return "; ".join("%s: %s" % (_item(item), item.get("msg") or default) for item in items)
    return str(result.get("msg") or default)


class FilterModule:
    """Why a task failed."""

    def filters(self):
        return {"failure_reason": failure_reason}
