# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""failure_reason: why a task failed, naming the failed items of a loop."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.filter.failure_reason import failure_reason


def test_a_plain_failure_says_its_message():
    assert failure_reason({"failed": True, "msg": "socket refused"}) == "socket refused"
    assert failure_reason({"failed": True}) == "failed"
    assert failure_reason({}, default="no reason given") == "no reason given"


def test_a_loop_names_each_failed_item_by_its_loop_variable():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"traffic_lb": "lb1", "ansible_loop_var": "traffic_lb", "changed": True},
        {"traffic_lb": "lb2", "ansible_loop_var": "traffic_lb", "failed": True, "msg": "connection refused"},
        {"traffic_lb": "lb3", "ansible_loop_var": "traffic_lb", "unreachable": True, "msg": "no route"}]}
    assert failure_reason(result) == "lb2: connection refused; lb3: no route"


def test_a_loop_over_lists_names_the_item_by_its_label():
    result = {"failed": True, "results": [
        {"item": ["lb1", ["ready", True]], "_ansible_item_label": "lb1: ready", "failed": True, "msg": "boom"}]}
    assert failure_reason(result) == "lb1: ready: boom"


def test_a_registered_loop_over_lists_without_labels_names_the_item_by_its_first_element():
    result = {"failed": True, "results": [
        {"traffic_change": ["lb2", ["ready", True]], "ansible_loop_var": "traffic_change", "failed": True,
         "msg": "unreachable: connection refused"}]}
    assert failure_reason(result) == "lb2: unreachable: connection refused"


@pytest.mark.parametrize("bad", ["failed", None, ["x"]])
def test_anything_but_a_result_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="failure_reason expects a task result"):
        failure_reason(bad)
