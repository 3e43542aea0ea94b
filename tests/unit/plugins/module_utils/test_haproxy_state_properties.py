# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of the HAProxy runtime parsing and change planning.

Server tables are generated, rendered the way HAProxy 2.6 writes `show servers state` and
`show stat` (the renderer is checked against a real HAProxy first), and parsed back. Planned
`set server` commands are applied to a real HAProxy and the result is read back with a plain
split, independent of the code under test.
"""

from __future__ import annotations

import os
import pathlib
import string

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import HAProxy
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import HAProxyError, check_commands
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    Server,
    merge_servers,
    parse_servers_state,
    parse_stat,
    plan_commands,
    preview,
    stat_backends,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import (
    HAPROXY_BIN,
    HAProxyLab,
)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
PROPERTY_SETTINGS = settings(max_examples=75, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])
# Generating whole server tables (129 stat columns each) is what takes the time.
TABLE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=40)
# One lab serves all examples of a test: each example sets the state it starts from itself.
LIVE_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
live = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)

# srv_admin_state bits as HAProxy defines them (include/haproxy/server-t.h), written out here
# rather than imported so that a wrong constant in the code under test shows.
SRV_ADMF_FMAINT, SRV_ADMF_IMAINT, SRV_ADMF_CMAINT = 0x01, 0x02, 0x04
SRV_ADMF_FDRAIN, SRV_ADMF_IDRAIN, SRV_ADMF_RMAINT, SRV_ADMF_HMAINT = 0x08, 0x10, 0x20, 0x40

# The exact headers and one row of each kind, as HAProxy 2.6 wrote them.
_STATE_LINES = (FIXTURES / "haproxy26_servers_state.txt").read_text().split("\n")
STATE_HEADER = _STATE_LINES[1][2:].split(" ")
_STAT_LINES = (FIXTURES / "haproxy26_stat.txt").read_text().split("\n")
STAT_HEADER = _STAT_LINES[0][2:].split(",")


def _stat_template(pxname: str, svname: str) -> dict:
    for line in _STAT_LINES[1:]:
        values = line.split(",")
        if values[:2] == [pxname, svname]:
            return dict(zip(STAT_HEADER, values))
    raise LookupError((pxname, svname))


SERVER_TEMPLATE = _stat_template("app", "web2")
BACKEND_TEMPLATE = _stat_template("app", "BACKEND")
FRONTEND_TEMPLATE = _stat_template("fe", "FRONTEND")


# --- rendering in HAProxy's wire format ------------------------------------------------------------

def csv_enc(value: str) -> str:
    """HAProxy's csv_enc(str, 1): quoted only when it holds a newline, CR, comma or double quote."""
    if any(char in value for char in "\n\r,\""):
        return '"%s"' % value.replace('"', '""')
    return value


def render_servers_state(rows: list, header: list = STATE_HEADER) -> str:
    """`show servers state`: version line, '# ' header, one space-separated line per server, blank line."""
    lines = ["1", "# " + " ".join(header)] + [" ".join(row[name] for name in header) for row in rows]
    return "\n".join(lines) + "\n\n"


def render_stat(rows: list, header: list = STAT_HEADER) -> str:
    """`show stat`: '# ' CSV header, one CSV line per proxy side or server, blank line."""
    lines = ["# " + ",".join(header)] + [",".join(csv_enc(row.get(name, "")) for name in header) for row in rows]
    return "\n".join(lines) + "\n\n"


def plain_rows(text: str, separator: str, header_line: int) -> tuple:
    """(header, rows) of a reply without quoted fields, by plain splitting."""
    lines = [line for line in text.split("\n") if line]
    header = lines[header_line].lstrip("#").lstrip(" ").split(separator)
    return header, [dict(zip(header, line.split(separator))) for line in lines[header_line + 1:]]


# --- generated server tables -----------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + "_.:-"
names = st.text(NAME_CHARS, min_size=1, max_size=12).filter(lambda name: name not in ("BACKEND", "FRONTEND"))
# Often the same few names, so that servers of different backends share a name.
common_names = st.one_of(st.sampled_from(["app", "web1", "web2", "web3"]), names)
free_text = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(',"'), max_size=30)
counter = st.integers(0, 10 ** 12)
counter_field = st.one_of(counter.map(str), st.just(""))


def _bits(flags, at_least: int = 0) -> st.SearchStrategy:
    """Combinations of `at_least` or more of `flags`, OR-ed together."""
    return st.lists(st.sampled_from(flags), min_size=at_least, unique=True).map(sum)


MEMO_BITS = _bits([SRV_ADMF_CMAINT, SRV_ADMF_HMAINT])  # memos: a server with only these is in service
ADMIN_FLAGS = {
    "ready": MEMO_BITS,
    "drain": st.builds(lambda drain, memo: drain | memo, _bits([SRV_ADMF_FDRAIN, SRV_ADMF_IDRAIN], 1),
                       MEMO_BITS),
    "maint": st.builds(lambda maint, drain, memo: maint | drain | memo,
                       _bits([SRV_ADMF_FMAINT, SRV_ADMF_IMAINT, SRV_ADMF_RMAINT], 1),
                       _bits([SRV_ADMF_FDRAIN, SRV_ADMF_IDRAIN]), MEMO_BITS),
}
# Stat statuses HAProxy shows, and whether the server can serve.
STATUSES = [("UP", True), ("UP 1/3", True), ("UP 2/3", True), ("DRAIN", True), ("DRAIN (agent)", True),
            ("no check", True), ("DOWN", False), ("DOWN 1/2", False), ("DOWN (agent)", False), ("NOLB", False),
            ("NOLB 1/2", False), ("MAINT", False), ("MAINT (via app/web1)", False), ("MAINT (resolution)", False)]
# Without a stat row the op state decides: stopped, starting, running, stopping.
OP_STATES = [(0, False), (1, True), (2, True), (3, False)]


@st.composite
def server_entries(draw, backend: str, be_id: int, srv_id: int, name: str) -> dict:
    """One server: its `show servers state` row, its `show stat` row (or None) and the Server expected."""
    admin = draw(st.sampled_from(sorted(ADMIN_FLAGS)))
    flags = draw(ADMIN_FLAGS[admin])
    op_state, op_up = draw(st.sampled_from(OP_STATES))
    address = str(draw(st.ip_addresses()))
    port, uweight, iweight = draw(st.integers(0, 65535)), draw(st.integers(0, 256)), draw(st.integers(0, 256))
    state = dict.fromkeys(STATE_HEADER, "0")
    state.update(
        be_id=str(be_id), be_name=backend, srv_id=str(srv_id), srv_name=name, srv_addr=address,
        srv_op_state=str(op_state), srv_admin_state=str(flags), srv_uweight=str(uweight),
        srv_iweight=str(iweight), srv_time_since_last_change=str(draw(counter)),
        srv_fqdn=draw(st.sampled_from(["-", "app.example.com"])), srv_port=str(port), srvrecord="-",
        srv_check_addr="-", srv_agent_addr="-",
    )
    expected = dict(backend=backend, name=name, address=address, port=port, admin=admin, status="", up=op_up,
                    weight=uweight, initial_weight=iweight)
    stat = None
    if draw(st.booleans()):
        status, up = draw(st.sampled_from(STATUSES))
        fields = {key: draw(counter_field) for key in ("scur", "qcur", "stot", "hrsp_2xx", "hrsp_5xx",
                                                       "req_tot", "rtime", "ttime")}
        check_status = draw(st.sampled_from(["", "L4CON", "L4TOUT", "L6OK", "L7OK", "L7STS", "INI", "SOCKERR"]))
        stat = dict(SERVER_TEMPLATE, pxname=backend, svname=name, status=status, weight=str(uweight),
                    check_status=check_status, check_desc=draw(free_text), last_chk=draw(free_text),
                    cookie=draw(free_text), addr="%s:%d" % (address, port), sid=str(srv_id), **fields)
        expected.update(
            status=status, up=up, check_status=check_status, sessions=int(fields["scur"] or 0),
            queued=int(fields["qcur"] or 0), total_sessions=int(fields["stot"] or 0),
            responses_2xx=int(fields["hrsp_2xx"] or 0), responses_5xx=int(fields["hrsp_5xx"] or 0),
            requests_total=int(fields["req_tot"] or 0), response_time_ms=int(fields["rtime"] or 0),
            total_time_ms=int(fields["ttime"] or 0),
        )
    return {"state": state, "stat": stat, "expected": Server(**expected)}


@st.composite
def server_tables(draw) -> list:
    """[(backend, [server entries])]: 1 to 3 backends of 0 to 5 servers."""
    table = []
    for be_id, backend in enumerate(draw(st.lists(common_names, min_size=1, max_size=3, unique=True)), start=2):
        servers = [draw(server_entries(backend, be_id, srv_id, name))
                   for srv_id, name in enumerate(draw(st.lists(common_names, max_size=5, unique=True)), start=1)]
        table.append((backend, servers))
    return table


def render_table(table: list, listen: bool = False) -> tuple:
    """(`show servers state` text, `show stat` text) of a generated table."""
    state_rows = [entry["state"] for _backend, servers in table for entry in servers]
    stat_rows = [dict(FRONTEND_TEMPLATE, pxname="fe")]
    for backend, servers in table:
        if listen:  # a 'listen' section: frontend side, servers and backend side under one name
            stat_rows.append(dict(FRONTEND_TEMPLATE, pxname=backend))
        stat_rows += [entry["stat"] for entry in servers if entry["stat"] is not None]
        stat_rows.append(dict(BACKEND_TEMPLATE, pxname=backend))
    return render_servers_state(state_rows), render_stat(stat_rows)


# --- the renderer writes what HAProxy writes --------------------------------------------------------

@pytest.fixture
def lab():
    # Function scope: ansible-test units runs each test in a fork of its own, where a
    # module-scoped lab would be left running once the test's process exits.
    lab = HAProxyLab().start()
    yield lab
    lab.stop()


@live
def test_renderer_matches_real_haproxy_output(lab):
    lab.reset()
    for command in ("show servers state", "show servers state app"):
        real = lab.send(command)
        header, rows = plain_rows(real, " ", 1)
        assert header == STATE_HEADER
        assert render_servers_state(rows) == real
        assert parse_servers_state(real) == rows
    real = lab.send("show stat")
    header, rows = plain_rows(real, ",", 0)
    assert header == STAT_HEADER
    assert render_stat(rows) == real
    assert parse_stat(real) == rows


def test_renderer_matches_captured_fixtures():
    for name in ("haproxy26_servers_state.txt", "haproxy26_servers_state_changed.txt"):
        text = (FIXTURES / name).read_text()
        assert render_servers_state(plain_rows(text, " ", 1)[1]) == text.rstrip("\n") + "\n\n"
    text = (FIXTURES / "haproxy26_stat.txt").read_text()
    assert render_stat(plain_rows(text, ",", 0)[1]) == text.rstrip("\n") + "\n\n"


@pytest.mark.parametrize("value, encoded", [
    ("Layer7 check passed", "Layer7 check passed"),
    ("Bad, Gateway", '"Bad, Gateway"'),
    ('say "hi"', '"say ""hi"""'),
    ("", ""),
])
def test_csv_enc_quotes_like_haproxy(value, encoded):
    assert csv_enc(value) == encoded


# --- parse(render(x)) == x -------------------------------------------------------------------------

@TABLE_SETTINGS
@given(table=server_tables(), listen=st.booleans())
def test_parse_and_merge_give_back_the_generated_servers(table, listen):
    state_text, stat_text = render_table(table, listen)
    state_rows, stat_rows = parse_servers_state(state_text), parse_stat(stat_text)

    assert state_rows == [entry["state"] for _backend, servers in table for entry in servers]
    rendered_stat = [row for row in stat_rows if row["svname"] not in ("FRONTEND", "BACKEND")]
    assert rendered_stat == [entry["stat"] for _backend, servers in table for entry in servers if entry["stat"]]
    assert stat_backends(stat_rows) == [backend for backend, _servers in table]

    merged = merge_servers(state_rows, stat_rows)
    expected = {backend: {entry["expected"].name: entry["expected"] for entry in servers}
                for backend, servers in table if servers}
    assert merged == expected
    for backend, servers in expected.items():
        assert list(merged[backend]) == list(servers), "servers keep HAProxy's order"
    event("%d servers" % sum(len(servers) for servers in expected.values()))


@settings(TABLE_SETTINGS, max_examples=25)
@given(table=server_tables().filter(lambda table: any(servers for _backend, servers in table)),
       state_order=st.permutations(STATE_HEADER), stat_order=st.permutations(STAT_HEADER))
def test_parsing_follows_the_header_not_the_column_positions(table, state_order, stat_order):
    state_text, stat_text = render_table(table)
    state_rows = [entry["state"] for _backend, servers in table for entry in servers]
    stat_rows = parse_stat(stat_text)
    shuffled_state = render_servers_state(state_rows, list(state_order))
    shuffled_stat = render_stat(stat_rows, list(stat_order))
    assert parse_servers_state(shuffled_state) == parse_servers_state(state_text)
    assert parse_stat(shuffled_stat) == stat_rows
    assert merge_servers(parse_servers_state(shuffled_state), parse_stat(shuffled_stat)) == merge_servers(
        parse_servers_state(state_text), stat_rows)


# --- garbage and cut-off replies --------------------------------------------------------------------

def parse_everything(state_text: str, stat_text: str) -> None:
    merge_servers(parse_servers_state(state_text), parse_stat(stat_text))


@st.composite
def damaged_replies(draw) -> tuple:
    """A rendered reply pair with one of them cut, or with characters deleted, inserted or replaced."""
    texts = list(render_table(draw(server_tables())))
    which = draw(st.sampled_from([0, 1]))
    text = texts[which]
    position = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["cut", "delete", "insert", "replace"]))
    junk = draw(st.text(min_size=1, max_size=5))
    if how == "cut":
        text = text[:position]
    elif how == "delete":
        text = text[:position] + text[position + len(junk):]
    elif how == "insert":
        text = text[:position] + junk + text[position:]
    else:
        text = text[:position] + junk + text[position + len(junk):]
    texts[which] = text
    event(how)
    return tuple(texts)


@TABLE_SETTINGS
@given(texts=st.one_of(damaged_replies(), st.tuples(st.text(), st.text()),
                       st.tuples(st.text().map(lambda text: "1\n# " + text), st.text().map(lambda text: "# " + text))))
# a carriage return inside a 'show stat' row, once a csv.Error
@example(texts=("1\n# ", "# \n\r0"))
def test_damaged_replies_raise_only_the_module_error(texts):
    """Never an IndexError, KeyError, ValueError or csv.Error: either parsed or HAProxyError."""
    try:
        parse_everything(*texts)
    except HAProxyError as error:
        event("refused")
        assert "show servers state" in str(error) or "show stat" in str(error)


@PROPERTY_SETTINGS
@given(garbage=st.one_of(st.just(""), st.text().filter(lambda text: not text.strip()[:1].isdigit())))
def test_a_reply_that_is_not_a_servers_state_names_the_command_and_the_reply(garbage):
    with pytest.raises(HAProxyError) as error:
        parse_servers_state(garbage)
    assert "'show servers state'" in str(error.value)
    assert repr(garbage[:200]) in str(error.value)


@PROPERTY_SETTINGS
@given(garbage=st.text())
def test_a_reply_that_is_not_a_stat_csv_names_the_command_and_the_reply(garbage):
    lines = [line for line in garbage.split("\n") if line.strip()]
    assume(not lines or not lines[0].startswith("# "))
    with pytest.raises(HAProxyError) as error:
        parse_stat(garbage)
    assert "'show stat'" in str(error.value)
    assert repr(garbage[:200]) in str(error.value)


# Found by the properties above: a row cut short, or with a field that is not a number, was read
# with the missing or unreadable fields as 0. Each example shows what that reading made of it.
_HEADER_AND_VERSION = "1\n# " + " ".join(STATE_HEADER) + "\n"
_FULL_ROW = "3 app 1 web1 127.0.0.2 2 1 10 10 2 15 3 2 6 0 0 0 - 18181 - 0 0 - - 0"


@pytest.mark.parametrize("row", [
    # cut before srv_admin_state: a server in maintenance (flags 1) reads as ready, weight 0
    "3 app 1 web1 127.0.0.2 2",
    # cut after srv_admin_state: weight 10 reads as 0
    "3 app 1 web1 127.0.0.2 2 1",
    # a field that is not a number: maintenance reads as ready
    _FULL_ROW.replace(" 2 1 10 10 ", " 2 x 10 10 "),
], ids=["cut-before-admin-state", "cut-before-weight", "admin-state-not-a-number"])
def test_a_damaged_servers_state_row_is_refused_naming_the_line(row):
    text = _HEADER_AND_VERSION + row + "\n\n"
    try:
        servers = merge_servers(parse_servers_state(text), [])
    except HAProxyError as error:
        assert row in str(error)
        return
    server = servers["app"]["web1"]
    raise AssertionError("row %r was read as admin %r, weight %d, port %d instead of being refused"
                         % (row, server.admin, server.weight, server.port))


def test_a_stat_row_cut_short_is_refused_naming_the_line():
    lines = (FIXTURES / "haproxy26_stat.txt").read_text().split("\n")
    web2 = next(index for index, line in enumerate(lines) if line.startswith("app,web2,"))
    lines[web2] = lines[web2][:lines[web2].index(",UP,")]  # cut just before the status
    try:
        rows = parse_stat("\n".join(lines))
    except HAProxyError as error:
        assert "app,web2," in str(error)
        return
    status = next(row for row in rows if row.get("svname") == "web2").get("status")
    raise AssertionError("the cut row was read with status %r instead of being refused" % (status,))


# --- planning -------------------------------------------------------------------------------------

ADMINS = st.sampled_from(["ready", "drain", "maint"])
WEIGHTS = st.integers(0, 256)
CHANGE = st.one_of(st.fixed_dictionaries({"admin": ADMINS}), st.fixed_dictionaries({"weight": WEIGHTS}),
                   st.fixed_dictionaries({"admin": ADMINS, "weight": WEIGHTS}), st.just({}))


@st.composite
def backends_and_changes(draw) -> tuple:
    backend = draw(names)
    servers = {}
    for name in draw(st.lists(names, min_size=1, max_size=6, unique=True)):
        servers[name] = Server(backend, name, "127.0.0.1", 8080, draw(ADMINS), "UP", True, draw(WEIGHTS), 1)
    changes = draw(st.dictionaries(st.sampled_from(sorted(servers)), CHANGE))
    return backend, servers, changes


def differing(server: Server, change: dict) -> int:
    return sum((change.get("admin") not in (None, server.admin), change.get("weight") not in (None, server.weight)))


@PROPERTY_SETTINGS
@given(case=backends_and_changes())
def test_plan_sends_one_command_per_differing_field_and_nothing_more(case):
    backend, servers, changes = case
    commands = plan_commands(backend, servers, changes)
    check_commands(commands or ["-"])  # each could be sent in one ';'-joined batch
    assert len(commands) == sum(differing(servers[name], change) for name, change in changes.items())
    for name, change in changes.items():
        mine = [command for command in commands if command.startswith("set server %s/%s " % (backend, name))]
        wanted = []
        if change.get("admin") not in (None, servers[name].admin):
            wanted.append("set server %s/%s state %s" % (backend, name, change["admin"]))
        if change.get("weight") not in (None, servers[name].weight):
            wanted.append("set server %s/%s weight %d" % (backend, name, change["weight"]))
        if change.get("admin") == "ready":
            wanted.reverse()  # the weight first, so the server never serves at its old weight
        assert mine == wanted


@PROPERTY_SETTINGS
@given(case=backends_and_changes())
def test_plan_over_its_own_preview_is_empty(case):
    backend, servers, changes = case
    after = preview(servers, changes)
    assert plan_commands(backend, after, changes) == []
    for name, server in after.items():
        change = changes.get(name, {})
        assert server.admin == change.get("admin", servers[name].admin)
        assert server.weight == change.get("weight", servers[name].weight)


@PROPERTY_SETTINGS
@given(case=backends_and_changes(), unknown=st.lists(names, min_size=1, max_size=3, unique=True))
def test_plan_refuses_unknown_servers_naming_all_of_them(case, unknown):
    backend, servers, changes = case
    unknown = [name for name in unknown if name not in servers]
    assume(unknown)
    with pytest.raises(HAProxyError) as error:
        plan_commands(backend, servers, dict(changes, **{name: {"admin": "drain"} for name in unknown}))
    message = str(error.value)
    assert all("'%s'" % name in message for name in unknown)
    assert "backend '%s'" % backend in message


@PROPERTY_SETTINGS
@given(case=backends_and_changes(), bad=st.text(min_size=1, max_size=20).filter(
    lambda text: any(char not in NAME_CHARS for char in text)), where=st.sampled_from(["backend", "server"]))
def test_plan_refuses_names_that_could_change_the_batch(case, bad, where):
    backend, servers, changes = case
    if where == "backend":
        backend = bad
    else:
        servers = dict(servers, **{bad: Server(backend, bad, "127.0.0.1", 80, "ready", "UP", True, 1, 1)})
        changes = {bad: {"admin": "drain"}}
    with pytest.raises(HAProxyError) as error:
        plan_commands(backend, servers, changes)
    assert "%s name %r" % (where, bad) in str(error.value)


@PROPERTY_SETTINGS
@given(case=backends_and_changes(), name_and_change=st.one_of(
    st.tuples(st.just("admin"), st.text(max_size=8).filter(lambda text: text not in ("ready", "drain", "maint"))),
    st.tuples(st.just("weight"), st.one_of(st.integers().filter(lambda weight: not 0 <= weight <= 256),
                                           st.booleans(), st.floats(), st.text(max_size=4))),
))
def test_plan_refuses_bad_changes_naming_value_and_server(case, name_and_change):
    backend, servers, _changes = case
    key, value = name_and_change
    server = next(iter(servers))
    with pytest.raises(HAProxyError) as error:
        plan_commands(backend, servers, {server: {key: value}})
    assert "%r for server '%s'" % (value, server) in str(error.value)


# --- planned batches applied to a real HAProxy -------------------------------------------------------

LAB_SERVERS = ("web1", "web2", "web3", "web4")


def admin_of_flags(flags: int) -> str:
    """What HAProxy's forced and inherited bits say, for the servers of the lab (nothing tracked)."""
    if flags & (SRV_ADMF_FMAINT | SRV_ADMF_IMAINT | SRV_ADMF_RMAINT):
        return "maint"
    return "drain" if flags & (SRV_ADMF_FDRAIN | SRV_ADMF_IDRAIN) else "ready"


@live
@LIVE_SETTINGS
@given(initial=st.fixed_dictionaries({name: st.tuples(ADMINS, WEIGHTS) for name in LAB_SERVERS}),
       changes=st.dictionaries(st.sampled_from(LAB_SERVERS), CHANGE, min_size=1))
def test_planned_batch_brings_real_haproxy_to_the_wanted_state(lab, initial, changes):
    setup = []
    for name, (admin, weight) in initial.items():
        setup += ["set server app/%s weight %d" % (name, weight), "set server app/%s state %s" % (name, admin)]
    assert lab.send("; ".join(setup)).strip() == ""
    before = lab.state()
    assert {name: (admin_of_flags(flags), weight) for name, (flags, weight) in before.items()} == initial

    haproxy = HAProxy(lab.admin_socket)
    commands = plan_commands("app", haproxy.servers("app"), changes)
    for name, change in changes.items():
        if change.get("admin") in (None, initial[name][0]) and change.get("weight") in (None, initial[name][1]):
            assert not [command for command in commands if "app/%s " % name in command], "%s is already right" % name
    if commands:
        assert lab.send("; ".join(commands)).strip() == "", "HAProxy refused part of %r" % commands
    event("%d commands" % len(commands))

    after = lab.state()
    for name in LAB_SERVERS:
        change = changes.get(name, {})
        flags, weight = after[name]
        if not change:
            assert after[name] == before[name], "%s was not to be touched" % name
        assert admin_of_flags(flags) == change.get("admin", initial[name][0]), name
        assert weight == change.get("weight", initial[name][1]), name
    assert plan_commands("app", haproxy.servers("app"), changes) == []
