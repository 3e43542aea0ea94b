# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/_shared_run.py: one host sends, the others take its result, in other processes, whole or not at all."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.plugin_utils._shared_run import SharedRun, SharedRunLost, process_alive

HOSTS = ("app1", "app2", "app3")
KEY = ("task-uuid", "lb1", "lb1")


def shared(directory, host, key=KEY, senders=HOSTS):
    return SharedRun(str(directory), list(key), list(senders), host)


def test_the_first_sender_sends_and_the_others_take_its_result(tmp_path):
    assert [shared(tmp_path, host).sends for host in HOSTS] == [True, False, False]
    sent = shared(tmp_path, "app1").send(lambda: {"changed": True, "commands": ["set server b/app1 state ready"]})
    assert shared(tmp_path, "app3").wait() == sent == {"changed": True, "commands": ["set server b/app1 state ready"]}


def test_another_task_another_lb_host_or_other_senders_share_nothing(tmp_path):
    shared(tmp_path, "app1").send(lambda: {"changed": True})
    for other in (shared(tmp_path, "app2", key=["task-uuid", "lb2", "lb2"]),
                  shared(tmp_path, "app2", key=["other-task", "lb1", "lb1"]),
                  shared(tmp_path, "app2", senders=["app1", "app2"])):
        with pytest.raises(SharedRunLost):
            other.wait(start_seconds=0.0)


def test_a_sender_that_breaks_still_answers_the_others_and_raises(tmp_path):
    def broken():
        raise RuntimeError("socket vanished")

    with pytest.raises(RuntimeError):
        shared(tmp_path, "app1").send(broken)
    assert shared(tmp_path, "app2").wait() == {
        "failed": True, "msg": "the task sent for app1, app2, app3 failed: RuntimeError: socket vanished"}


def _send_big(directory, rounds):
    for number in range(rounds):
        # a new result each round, large enough that writing it takes more than one write call
        shared(directory, "app1", key=["task", number]).send(lambda: {"round": number, "servers": ["x" * 4096] * 64})


def _read(directory, rounds, found):
    for number in range(rounds):
        result = shared(directory, "app2", key=["task", number]).wait()
        found.put(result["round"] if result and len(result["servers"]) == 64 else None)


def test_readers_in_other_processes_never_see_half_a_result(tmp_path):
    rounds = 40
    context = multiprocessing.get_context("fork")
    found = context.Queue()
    readers = [context.Process(target=_read, args=(str(tmp_path), rounds, found)) for reader_number in range(3)]
    for reader in readers:
        reader.start()
    _send_big(str(tmp_path), rounds)
    for reader in readers:
        reader.join(60)
    seen = sorted(found.get(timeout=5) for found_number in range(3 * rounds))
    assert seen == sorted(list(range(rounds)) * 3)
    # nothing half-written is left behind
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".partial-")]


def fake_time():
    """A clock and a sleep that moves it."""
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    return (lambda: now[0]), sleep, now


def test_a_sender_that_never_starts_is_given_up_on_after_the_start_time(tmp_path):
    clock, sleep, now = fake_time()
    with pytest.raises(SharedRunLost) as lost:
        shared(tmp_path, "app2").wait(start_seconds=1.0, clock=clock, sleep=sleep)
    assert str(lost.value) == "app1 sends this task for app1, app2, app3, and did not start it within 1s"
    assert 1.0 <= now[0] < 1.1


def test_a_sender_that_started_is_waited_for_as_long_as_its_process_lives(tmp_path):
    clock, sleep, now = fake_time()
    sender = shared(tmp_path, "app1")
    sender._write(sender.claim_path, {"pid": 4242})

    def slow_sleep(seconds):
        sleep(seconds)
        if now[0] > 300:  # long after the start time: the sender answers
            sender._write(sender.path, {"changed": True})

    assert shared(tmp_path, "app2").wait(start_seconds=1.0, clock=clock, sleep=slow_sleep,
                                         alive=lambda pid: pid == 4242) == {"changed": True}


@pytest.mark.parametrize("claim", [{"pid": 4242}, {"pid": 0}, {"pid": "4242"}, {}])
def test_a_sender_whose_process_ended_without_a_result_is_given_up_on_at_once(tmp_path, claim):
    clock, sleep, now = fake_time()
    sender = shared(tmp_path, "app1")
    sender._write(sender.claim_path, claim)
    with pytest.raises(SharedRunLost) as lost:
        shared(tmp_path, "app2").wait(clock=clock, sleep=sleep, alive=lambda pid: False)
    assert str(lost.value).startswith("app1 sends this task for app1, app2, app3, and its process ")
    assert str(lost.value).endswith(" ended without a result") and now[0] == 0.0


def test_a_result_that_cannot_be_written_ends_the_wait_as_a_failure(tmp_path):
    looped = {}
    looped["self"] = looped
    assert shared(tmp_path, "app1").send(lambda: looped) is looped
    result = shared(tmp_path, "app2").wait(start_seconds=0.0)
    assert result["failed"] is True
    assert result["msg"].startswith("the result of the task sent for app1, app2, app3 could not be shared: ")


def test_a_sender_process_that_died_unreaped_counts_as_gone():
    context = multiprocessing.get_context("fork")
    running = context.Process(target=time.sleep, args=(30,))
    running.start()
    died = context.Process(target=os._exit, args=(3,))
    died.start()
    # exited, and not waited for yet: a zombie, as a worker is until Ansible reaps it
    deadline = time.monotonic() + 10
    while process_alive(died.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert process_alive(os.getpid()) and process_alive(running.pid)
        assert not process_alive(died.pid)
    finally:
        running.kill()
        running.join()
        died.join()
    assert not process_alive(died.pid)
