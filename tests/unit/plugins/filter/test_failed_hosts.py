# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""failed_hosts: which hosts of a step failed it so far (a failed or unreachable result, or dropped out)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.filter.failed_hosts import failed_hosts

HOSTS = ["web1", "web2", "web3", "web4"]


def test_failed_unreachable_and_dropped_hosts_are_named_in_the_order_given():
    hostvars = {
        "web1": {"service_stop": {"changed": True}},
        "web2": {"service_stop": {"changed": False, "unreachable": True}},
        "web3": {"service_stop": {"changed": True}, "traffic_server_drain": {"failed": True, "msg": "timeout"}},
        "web4": {"service_stop": {"changed": True}},
    }
    assert failed_hosts(HOSTS, hostvars, ["traffic_server_drain", "service_stop"], ["web1", "web2", "web3"]) == [
        "web2", "web3", "web4"]


def test_a_clean_slate_or_a_missing_result_is_no_failure():
    hostvars = {"web1": {"service_stop": {}}, "web2": {}, "web3": {"service_stop": {"skipped": True}}, "web4": {}}
    assert failed_hosts(HOSTS, hostvars, ["service_stop"], HOSTS) == []


@pytest.mark.parametrize("bad", ["web1", None, 3])
def test_a_string_or_scalar_instead_of_a_list_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="failed_hosts expects a list"):
        failed_hosts(bad, {}, ["service_stop"], HOSTS)
