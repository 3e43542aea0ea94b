# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A load-balancer host that cannot be reached fails the step that needed it; the task's own host stays."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.lastmile.deploy.plugins.action import canary_analysis, haproxy_info, haproxy_server, host_capacity


def action(plugin_class, delegate_to):
    task = MagicMock(args={}, async_val=0, check_mode=False, diff=False, delegate_to=delegate_to)
    connection, play_context = MagicMock(transport="ssh"), MagicMock(become=False)
    plugin = plugin_class.ActionModule(task, connection, play_context, MagicMock(), MagicMock(), MagicMock())
    plugin._execute_module = MagicMock(side_effect=AnsibleConnectionFailure("Failed to connect to the host via ssh"))
    return plugin


@pytest.mark.parametrize("plugin_class", [haproxy_server, haproxy_info, canary_analysis])
def test_an_unreachable_lb_host_fails_the_task(plugin_class):
    result = action(plugin_class, "lb2").run(task_vars={})
    assert result["failed"] is True
    assert result["msg"] == "unreachable: Failed to connect to the host via ssh"
    assert "unreachable" not in result  # not Ansible's unreachable: the task's own host stays in the play


@pytest.mark.parametrize("plugin_class, delegate_to", [(haproxy_server, None), (host_capacity, "lb2")])
def test_otherwise_the_host_is_unreachable_as_ansible_says(plugin_class, delegate_to):
    with pytest.raises(AnsibleConnectionFailure):
        action(plugin_class, delegate_to).run(task_vars={})
