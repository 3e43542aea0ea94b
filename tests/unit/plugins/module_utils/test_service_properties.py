# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of reading supervisorctl's and systemctl's answers.

Answers are rendered from a model of what the tools print (``supervisorctl status NAME`` lines
with any padding and description, ``systemctl is-active`` words, the lines supervisorctl prints
for start, stop and restart) and the outcome expected is worked out from that model: the state
read, the command accepted or refused, the error naming the tool's own last words.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.service.manager import POLL_INTERVAL, Service, ServiceError

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

Answer = Tuple[int, str, str]

# Written out rather than imported, so a wrong table in the code under test shows.
SUPERVISOR_STATES = ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN")
SYSTEMD_STATES = ("active", "inactive", "failed", "activating", "deactivating", "reloading", "maintenance")
RUNNING = ("RUNNING", "active")
GAVE_UP = ("FATAL", "EXITED", "STOPPED", "UNKNOWN", "failed")  # waiting longer cannot help

program_names = st.from_regex(r"[A-Za-z0-9_.-]{1,12}(:[A-Za-z0-9_.-]{1,12})?", fullmatch=True)
unit_names = st.from_regex(r"[a-z][a-z0-9_-]{0,10}(@[a-z0-9]{1,4})?\.service", fullmatch=True)
exit_codes = st.integers(0, 255)
descriptions = st.sampled_from(["", "pid 4242, uptime 0:00:01", "pid 7, uptime 12 days, 3:04:05", "Not started",
                                "Exited too quickly (process log may have details)", "Apr 01 12:00 PM", "Can't find command '/opt/x'"])
padding = st.text(" \t", min_size=1, max_size=30)
endings = st.sampled_from(["\n", "\r\n", ""])


class Manager:
    """Answers command lines from a script of answers per verb, recording each call."""

    def __init__(self, answers: Dict[str, List[Answer]]):
        self.answers = answers
        self.calls: List[List[str]] = []

    def __call__(self, argv: List[str]) -> Answer:
        self.calls.append(argv)
        script = self.answers.get(argv[-2])
        assert script, "no answer left for %s" % argv
        return script.pop(0) if len(script) > 1 else script[0]

    def verbs(self) -> List[str]:
        return [call[-2] for call in self.calls]


def last_words(out: str, err: str, rc: int) -> str:
    """What an error should quote: the tool's last non-blank line, else its exit code."""
    lines = [line.strip() for line in out.splitlines() + err.splitlines() if line.strip()]
    return lines[-1] if lines else "exit code %d, no output" % rc


def supervisor(name: str, answers: Dict[str, List[Answer]], ctl: Sequence[str] = ("supervisorctl", "-c", "/etc/sv.conf")):
    manager = Manager(answers)
    return Service("supervisor", name, manager, supervisorctl=list(ctl)), manager


def systemd(name: str, answers: Dict[str, List[Answer]]):
    manager = Manager(answers)
    return Service("systemd", name, manager, systemctl=["systemctl", "--no-pager"]), manager


# --- status ---------------------------------------------------------------------------------------

@st.composite
def status_lines(draw, name: str, state: str) -> str:
    """``supervisorctl status NAME``: the name padded to a column, the state, a description."""
    line = name + draw(padding) + state
    description = draw(descriptions)
    if description:
        line += draw(padding) + description
    return draw(st.sampled_from(["", " "])) + line + draw(endings)


@PROPERTY_SETTINGS
@given(name=program_names, state=st.sampled_from(SUPERVISOR_STATES), rc=exit_codes, err=st.sampled_from(["", "warning\n"]),
       data=st.data())
def test_supervisor_status_is_the_state_on_the_programs_line(name, state, rc, err, data):
    service, manager = supervisor(name, {"status": [(rc, data.draw(status_lines(name, state)), err)]})
    assert service.status() == state
    assert service.running() == (state == "RUNNING")
    assert manager.calls[0] == ["supervisorctl", "-c", "/etc/sv.conf", "status", name]


@st.composite
def foreign_status_outputs(draw, name: str) -> str:
    """What supervisorctl prints when it does not report the program: its errors, another program."""
    other = draw(program_names)
    if other == name:
        other += "2"
    return draw(st.sampled_from([
        "",
        "\n\n",
        "%s: ERROR (no such process)\n" % name,
        "%s:%s RUNNING\n" % (name, name),
        "%s RUNNING pid 1, uptime 0:00:01\n" % other,
        "%sx RUNNING\n" % name,
        "%s\n" % name,
        "unix:///var/run/supervisor.sock no such file\n",
        "http://localhost:9001 refused connection\n",
        "Error: .ini file does not include supervisorctl section\nFor help, use /usr/bin/supervisorctl -h\n",
    ]))


@PROPERTY_SETTINGS
@given(name=program_names, rc=exit_codes, err=st.sampled_from(["", "error: <class 'socket.error'>, [Errno 13]\n", "\n"]), data=st.data())
def test_supervisor_status_without_the_programs_line_is_refused_with_supervisors_last_words(name, rc, err, data):
    out = data.draw(foreign_status_outputs(name))
    service = supervisor(name, {"status": [(rc, out, err)]})[0]
    with pytest.raises(ServiceError) as error:
        service.status()
    assert str(error.value) == "supervisor does not report program %s: %s" % (name, last_words(out, err, rc))


@PROPERTY_SETTINGS
@given(name=unit_names, state=st.sampled_from(SYSTEMD_STATES), rc=exit_codes, ending=endings)
def test_systemd_status_is_the_word_is_active_prints(name, state, rc, ending):
    service, manager = systemd(name, {"is-active": [(rc, state + ending, "")]})
    assert service.status() == state
    assert service.running() == (state == "active")
    assert manager.calls[0] == ["systemctl", "--no-pager", "is-active", name]


@PROPERTY_SETTINGS
@given(name=unit_names, rc=exit_codes, out=st.text(" \t\r\n", max_size=4), err=st.sampled_from(["", "Failed to connect to bus\n"]))
def test_systemd_status_without_a_word_is_unknown(name, rc, out, err):
    assert systemd(name, {"is-active": [(rc, out, err)]})[0].status() == "unknown"


@PROPERTY_SETTINGS
@given(manager_name=st.sampled_from(["supervisor", "systemd"]), name=program_names, rc=exit_codes,
       out=st.text(max_size=60), err=st.text(max_size=30))
def test_any_answer_gives_one_word_or_service_error(manager_name, name, rc, out, err):
    service = Service(manager_name, name, Manager({"status": [(rc, out, err)], "is-active": [(rc, out, err)]}))
    try:
        status = service.status()
    except ServiceError as error:
        event("refused")
        assert manager_name == "supervisor" and name in str(error)
    else:
        event("read")
        assert status and status.split() == [status]
        assert status in out or status == "unknown"


# --- start, stop, restart -------------------------------------------------------------------------

def printed(draw, lines: List[str]) -> str:
    ending = draw(endings)
    return ending.join(lines) + (ending if lines and ending else "")


@st.composite
def restart_answers(draw, name: str) -> Tuple[Answer, bool]:
    """(what ``supervisorctl restart NAME`` printed, whether the start half succeeded)."""
    stop_half = draw(st.sampled_from(["%s: stopped", "%s: ERROR (not running)", None]))
    start_half = draw(st.sampled_from(["%s: started", "%s: ERROR (spawn error)", "%s: ERROR (abnormal termination)",
                                       "%s: ERROR (no such process)", None]))
    lines = [words % name for words in (stop_half, start_half) if words]
    if draw(st.booleans()):
        lines.insert(0, "warning: restart is stop then start")
    rc = 0 if start_half == "%s: started" else draw(exit_codes)  # supervisor < 4 exits 0 after errors too
    return (rc, printed(draw, lines), draw(st.sampled_from(["", "error: timed out\n"]))), start_half == "%s: started"


@PROPERTY_SETTINGS
@given(name=program_names, data=st.data())
def test_supervisor_restart_succeeds_exactly_when_the_start_half_printed_started(name, data):
    answer, started = data.draw(restart_answers(name))
    service, manager = supervisor(name, {"restart": [answer]})
    event("started" if started else "not started")
    if started:
        # supervisorctl says "started" only once the program stayed up: nothing more is asked
        assert service.ensure("restarted", timeout=5) == (True, "RUNNING")
        assert manager.verbs() == ["restart"]
    else:
        with pytest.raises(ServiceError) as error:
            service.ensure("restarted", timeout=5)
        assert str(error.value) == "supervisorctl restart %s did not start it: %s" % (name, last_words(*answer[1:], answer[0]))


START_WORDS = ["%s: started", "%s: ERROR (already started)", "%s: ERROR (spawn error)", "%s: ERROR (no such process)", ""]
STOP_WORDS = ["%s: stopped", "%s: ERROR (not running)", "%s: ERROR (no such process)", "%s: ERROR (abnormal termination)", ""]


@PROPERTY_SETTINGS
@given(name=program_names, verb=st.sampled_from(["start", "stop"]), rc=exit_codes, data=st.data())
def test_supervisor_start_and_stop_fail_on_a_nonzero_exit_unless_the_program_already_was_there(name, verb, rc, data):
    words = data.draw(st.sampled_from(START_WORDS if verb == "start" else STOP_WORDS))
    out = printed(data.draw, [words % name] if words else [])
    before, after = ("STOPPED", "RUNNING") if verb == "start" else ("RUNNING", "STOPPED")
    service, manager = supervisor(name, {verb: [(rc, out, "")],
                                         "status": [(3, "%s %s\n" % (name, before), ""), (0, "%s %s\n" % (name, after), "")]})
    harmless = "already started" if verb == "start" else "not running"
    accepted = rc == 0 or harmless in words
    event("accepted" if accepted else "refused")
    if not accepted:
        with pytest.raises(ServiceError) as error:
            service.ensure("started" if verb == "start" else "stopped", timeout=5)
        assert str(error.value) == "supervisorctl %s %s failed: %s" % (verb, name, last_words(out, "", rc))
        return
    assert service.ensure("started" if verb == "start" else "stopped", timeout=5) == (True, after)
    # a start that printed "started" is trusted; any other accepted answer is checked by asking again
    asked_again = verb == "stop" or words != "%s: started"
    assert manager.verbs() == ["status", verb] + (["status"] if asked_again else [])


@PROPERTY_SETTINGS
@given(name=unit_names, verb=st.sampled_from(["start", "stop", "restart"]), rc=st.integers(1, 255),
       err=st.sampled_from(["", "Failed to start shop.service: Unit shop.service not found.\n",
                            "Job for shop.service failed because the control process exited with error code.\n"
                            "See \"systemctl status shop.service\" and \"journalctl -xeu shop.service\" for details.\n"]))
def test_systemctl_failing_is_refused_with_its_last_words(name, verb, rc, err):
    state = {"start": "started", "stop": "stopped", "restart": "restarted"}[verb]
    before = "active" if verb == "stop" else "inactive"
    service, manager = systemd(name, {verb: [(rc, "", err)], "is-active": [(3, before + "\n", "")]})
    with pytest.raises(ServiceError) as error:
        service.ensure(state, timeout=5)
    assert str(error.value) == "systemctl %s %s failed: %s" % (verb, name, last_words("", err, rc))
    assert manager.verbs()[-1] == verb


# --- waiting --------------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(manager_name=st.sampled_from(["supervisor", "systemd"]), timeout=st.integers(0, 8), data=st.data())
def test_waiting_polls_until_running_a_state_that_gave_up_or_the_timeout(manager_name, timeout, data):
    states = SUPERVISOR_STATES if manager_name == "supervisor" else SYSTEMD_STATES
    script = data.draw(st.lists(st.sampled_from(states), min_size=1, max_size=12))
    name = "shop"
    # the last answer repeats for as long as it is asked
    answers = [(0, "%s %s\n" % (name, state) if manager_name == "supervisor" else state + "\n", "") for state in script]
    manager = Manager({"status": list(answers), "is-active": list(answers)})
    service = Service(manager_name, name, manager)
    slept: List[float] = []

    def clock() -> float:
        return float(len(slept))  # one time unit per poll interval slept

    # the model: poll number i happens at time i
    polls, running = 0, None
    while True:
        state = script[min(polls, len(script) - 1)]
        polls += 1
        if state in RUNNING:
            running = state
            break
        if state in GAVE_UP or polls - 1 >= timeout:
            break
    event("running" if running else "gave up" if state in GAVE_UP else "timed out")
    if running:
        assert service.wait_running(timeout, clock=clock, sleep=slept.append) == running
    else:
        with pytest.raises(ServiceError) as error:
            service.wait_running(timeout, clock=clock, sleep=slept.append)
        assert str(error.value) == "%s is not running after %gs: %s" % (name, timeout, state)
    assert len(manager.calls) == polls
    assert slept == [POLL_INTERVAL] * (polls - 1)
