# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``plan.batches.next_batch``: the hosts of one batch take the whole next batch out between them, each once."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import next_batch, split_batches

NAMES = st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=6), min_size=1, max_size=40, unique=True)
SIZES = st.one_of(st.integers(1, 12), st.sampled_from(["10%", "25%", "33%", "50%", "100%"]))


@settings(max_examples=200, deadline=None, database=None)
@given(NAMES, SIZES, st.integers(0, 3))
def test_the_shares_of_a_batch_are_the_next_batch_each_host_once(hosts, size, lead):
    batches = ([hosts[:lead]] if 0 < lead < len(hosts) else []) + split_batches(hosts[lead:] if 0 < lead < len(hosts) else hosts, size)
    for index, batch in enumerate(batches):
        following = batches[index + 1] if index + 1 < len(batches) else []
        shares = [next_batch(batches, host)["share"] for host in batch]
        assert all(next_batch(batches, host)["hosts"] == following for host in batch)
        # every host of the next batch is taken out by exactly one host of this batch
        assert sorted(sum(shares, [])) == sorted(following)
        # dealt out in turn: no host takes out more than its fair part
        assert all(len(share) <= math.ceil(len(following) / len(batch)) for share in shares)


def test_examples():
    batches = [["app1", "app2"], ["app3", "app4", "app5"], ["app6"]]
    assert next_batch(batches, "app1") == dict(hosts=["app3", "app4", "app5"], share=["app3", "app5"])
    assert next_batch(batches, "app2") == dict(hosts=["app3", "app4", "app5"], share=["app4"])
    # a bigger batch before a smaller one: some hosts take nothing out
    assert next_batch(batches, "app4") == dict(hosts=["app6"], share=[])
    assert next_batch(batches, "app3") == dict(hosts=["app6"], share=["app6"])
    # the last batch, and a host in none
    assert next_batch(batches, "app6") == dict(hosts=[], share=[])
    assert next_batch(batches, "db1") == dict(hosts=[], share=[])
    assert next_batch([], "app1") == dict(hosts=[], share=[])
