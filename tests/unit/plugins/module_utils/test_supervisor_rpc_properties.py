# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of reading a supervisorctl command line, and of the command line run instead of it.

Command lines are rendered from a model (each of supervisorctl's options at most once, in any
order, in every spelling supervisorctl takes: ``-p X``, ``-pX``, ``--password X``,
``--password=X``, abbreviated ``--pass=X``, short options run together as in ``-ipX``) and what is
expected is worked out from that model. Where supervisor itself is installed, supervisorctl's own
reader (supervisor.options.ClientOptions) is the judge as well: the command line read the same
way, and the command line run in its place (the password in a private configuration file) giving
supervisorctl the same server, username and password as the one the user wrote.
"""

from __future__ import annotations

import configparser
import io
import os
import sys
from typing import Dict, List

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.service.supervisor import (
    CommandLineError,
    SupervisorctlCommand,
    SupervisorRPC,
    configuration_value,
    search_paths,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FILE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=60)

# Written out rather than imported, so a wrong table in the code under test shows.
SHORT = {"configuration": "-c", "serverurl": "-s", "username": "-u", "password": "-p", "history_file": "-r",
         "interactive": "-i"}
LONG = {"configuration": "configuration", "serverurl": "serverurl", "username": "username", "password": "password",
        "history_file": "history_file", "interactive": "interactive"}
ALL_LONG = list(LONG.values()) + ["help"]
VALUED = ("configuration", "serverurl", "username", "password", "history_file")
DEFAULT_SERVERURL = "http://localhost:9001"
ENDPOINT_KEYS = ("serverurl", "username", "password")


def unique_prefixes(name: str) -> List[str]:
    """The abbreviations of --name that getopt takes: those no other long option starts with."""
    return [name[:size] for size in range(1, len(name) + 1)
            if not any(other != name and other.startswith(name[:size]) for other in ALL_LONG)]


# Command-line values: anything but NUL (a value is one argv element, so any other character may be in it).
values = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
# Values that hold a character no message of the code under test holds, to see that none is shown.
marked_values = values.map(lambda value: "\x07" + value)


@st.composite
def models(draw, keys=tuple(SHORT), value_strategy=values, require=()) -> Dict[str, str]:
    """{key: value} for some of supervisorctl's options, each at most once ('' for -i)."""
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    chosen += [key for key in require if key not in chosen]
    model = {}
    for key in draw(st.permutations(chosen)):
        if key == "interactive":
            model[key] = ""
        elif key == "serverurl" and draw(st.booleans()):
            # one supervisorctl takes as a URL, as often as anything
            model[key] = draw(st.sampled_from(["unix://", "http://"])) + draw(value_strategy).replace("\x00", "")
        else:
            model[key] = draw(value_strategy)
    return model


@st.composite
def spelled(draw, key: str, value: str) -> List[str]:
    """One option as supervisorctl's users may write it."""
    if key == "interactive":
        return [draw(st.sampled_from(["-i"] + ["--" + prefix for prefix in unique_prefixes(LONG[key])]))]
    long_name = "--" + draw(st.sampled_from(unique_prefixes(LONG[key])))
    spellings = ["short", "long", "long="] + (["attached"] if value else [])
    spelling = draw(st.sampled_from(spellings))
    if spelling == "short":
        return [SHORT[key], value]
    if spelling == "attached":
        return [SHORT[key] + value]
    if spelling == "long":
        return [long_name, value]
    return ["%s=%s" % (long_name, value)]


@st.composite
def rendered(draw, model: Dict[str, str], program: str = "supervisorctl") -> List[str]:
    """argv for ``model``; -i may run together with the short option after it (-ipX)."""
    argv = [program]
    pending_i = False
    for key, value in model.items():
        tokens = draw(spelled(key, value))
        if pending_i and tokens[0][:2] in SHORT.values() and not tokens[0].startswith("--"):
            tokens[0] = "-i" + tokens[0][1:]
            pending_i = False
        elif pending_i:
            argv.append("-i")
            pending_i = False
        if key == "interactive" and tokens == ["-i"] and draw(st.booleans()):
            pending_i = True
            continue
        argv += tokens
    if pending_i:
        argv.append("-i")
    return argv


def expected_given(model: Dict[str, str]) -> Dict[str, str]:
    return {key: value for key, value in model.items() if key != "password"}


# --- reading the command line --------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_option_in_every_spelling_is_read_and_the_password_kept_apart(data):
    model = data.draw(models())
    argv = data.draw(rendered(model))
    command = SupervisorctlCommand(argv)
    event("password" if "password" in model else "no password")
    assert command.password == model.get("password")
    assert command.given == expected_given(model)
    assert [(option, value) for option, value in command.options if option in ("-p", "--password")] == []


@PROPERTY_SETTINGS
@given(data=st.data(), apart=values)
def test_a_password_given_apart_stands_for_p_and_may_not_come_twice(data, apart):
    model = data.draw(models())
    argv = data.draw(rendered(model))
    if "password" in model:
        with pytest.raises(CommandLineError, match="given both on the supervisorctl command line"):
            SupervisorctlCommand(argv, password=apart)
    else:
        command = SupervisorctlCommand(argv, password=apart)
        assert (command.password, command.given) == (apart, expected_given(model))


@PROPERTY_SETTINGS
@given(data=st.data(), first=st.booleans())
def test_an_option_given_twice_is_refused_naming_no_value(data, first):
    model = data.draw(models(value_strategy=marked_values, require=(data.draw(st.sampled_from(tuple(SHORT))),)))
    twice = data.draw(st.sampled_from(sorted(model)))
    argv = data.draw(rendered(model))
    again = data.draw(spelled(twice, "" if twice == "interactive" else data.draw(marked_values)))
    argv = argv[:1] + again + argv[1:] if first else argv + again
    with pytest.raises(CommandLineError) as refused:
        SupervisorctlCommand(argv)
    assert "given more than once" in str(refused.value) and "\x07" not in str(refused.value)


@PROPERTY_SETTINGS
@given(data=st.data(), extra=st.lists(marked_values, min_size=1, max_size=3), separator=st.booleans())
def test_arguments_after_the_options_are_refused_without_showing_them(data, extra, separator):
    model = data.draw(models(value_strategy=marked_values))
    argv = data.draw(rendered(model)) + (["--"] if separator else []) + extra
    with pytest.raises(CommandLineError) as refused:
        SupervisorctlCommand(argv)
    assert "argument(s) after its options" in str(refused.value) and "\x07" not in str(refused.value)


# tokens supervisorctl does not take
refused_tokens = st.sampled_from(["-x", "-v", "--version", "--history-file=/tmp/h", "--server-url=http://x", "--Username",
                                  "--h", "--bogus", "-c", "--password", "-ix"])


@PROPERTY_SETTINGS
@given(data=st.data(), bad=refused_tokens)
def test_an_option_supervisorctl_does_not_take_is_refused(data, bad):
    argv = data.draw(rendered(data.draw(models(value_strategy=marked_values)))) + [bad]
    with pytest.raises(CommandLineError) as refused:
        SupervisorctlCommand(argv)
    assert "\x07" not in str(refused.value)


# --- the command line run: the password in a private file, never an argument -------------------

@FILE_SETTINGS
@given(data=st.data(), apart=st.booleans())
def test_the_command_line_run_holds_every_option_but_the_password_and_its_file_holds_that(data, apart, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("sv"))
    conf = os.path.join(directory, "supervisord.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write("[supervisorctl]\nserverurl=unix://%(here)s/sv.sock\n")
    # a password this file can hold (the others are refused: see configuration values below)
    password = data.draw(values.filter(lambda text: text == text.strip() and not any(c in text for c in "\r\n;#")))
    model = data.draw(models(keys=("serverurl", "username", "history_file", "interactive")))
    model["configuration"] = conf
    if not apart:
        model["password"] = password
    argv = data.draw(rendered(model))
    private = os.path.join(directory, "private")
    os.mkdir(private)
    command = SupervisorctlCommand(argv, password=password if apart else None)
    with command.command_line(private) as run:
        again = SupervisorctlCommand(run)
        path = again.given["configuration"]
        assert os.path.dirname(path) == private and os.stat(path).st_mode & 0o777 == 0o600
        assert again.password is None
        assert again.given == dict(expected_given(model), configuration=path)
        parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
        parser.read(path)
        assert parser.get("supervisorctl", "password") % {} == password
        assert parser.get("supervisorctl", "serverurl") == "unix://%s/sv.sock" % directory
    assert os.listdir(private) == []


@st.composite
def passwords(draw) -> str:
    """Anything a command line can carry, biased towards what a configuration file treats specially."""
    special = st.sampled_from([" ", "\t", ";", "#", "%", "%%", "%(here)s", "=", ":", "\n", "\r", "\u00a0", "\u3000", "\x0b",
                               "[", "]", "é", "'", '"', "\\"])
    return "".join(draw(st.lists(st.one_of(special, values), max_size=6)))


def read_back_by_configparser(value: str) -> str:
    """What supervisor's reader makes of ``password=value``: its parser settings, then its % expansion."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string("[supervisorctl]\npassword=%s\n" % value)
    return parser.get("supervisorctl", "password") % {}


@PROPERTY_SETTINGS
@given(password=passwords())
def test_a_password_is_written_so_that_it_reads_back_unchanged_or_is_refused(password):
    try:
        written = configuration_value(password)
    except CommandLineError as refused:
        event("refused")
        assert str(refused).startswith("the supervisor password cannot be handed to supervisorctl")
        # refused only where no writing would do: a line break, white space at an end, ';' or '#' after white space
        assert ("\n" in password or "\r" in password or password != password.strip()
                or any(c in ";#" and password[i - 1].isspace() for i, c in enumerate(password) if i))
    else:
        event("written")
        assert read_back_by_configparser(written) == password


# --- supervisorctl's own reader as the judge -----------------------------------------------------

def supervisor_options():
    return pytest.importorskip("supervisor.options")


class Refused(Exception):
    pass


def supervisorctl_options(program: str):
    """supervisorctl's ClientOptions as made in a supervisorctl whose sys.argv[0] is ``program``."""
    options_module = supervisor_options()
    saved = sys.argv[0]
    sys.argv[0] = program  # where supervisorctl's own search starts
    try:
        return options_module.ClientOptions()
    finally:
        sys.argv[0] = saved


def supervisorctl_reads(argv: List[str], read_configuration: bool):
    """supervisorctl's ClientOptions after reading ``argv[1:]`` (and its configuration when asked); Refused where it exits."""
    options = supervisorctl_options(argv[0])
    options.stdout = options.stderr = io.StringIO()

    def refuse(message):
        raise Refused(message)

    options.usage = refuse
    if not read_configuration:
        options.searchpaths = []
        options.process_config = lambda do_usage=True: None
    try:
        options.realize(argv[1:], doc="supervisorctl", progname=argv[0])
    except SystemExit as exc:  # -h prints the help and exits
        raise Refused("exit %s" % exc.code) from None
    return options


argv_tokens = st.one_of(
    st.sampled_from(["-c", "-s", "-u", "-p", "-r", "-i", "-h", "-?", "-ip", "-iu", "--", "-", "status", "--help", "--pass",
                     "--interactive", "--hi", "--he", "--h", "--us", "--serverurl", "-x", "--bogus"]),
    values.filter(lambda token: not any(part in token for part in ("/dev", "/proc", "/sys"))),
    st.builds(lambda name, value: "--%s=%s" % (name, value), st.sampled_from(["pass", "password", "user", "s", "c", "hist"]),
              values),
)


command_lines = st.one_of(
    st.lists(argv_tokens, max_size=8).map(lambda tokens: ["supervisorctl"] + tokens),
    models().flatmap(rendered),
    # a well-formed command line with a stray token somewhere
    st.tuples(models().flatmap(rendered), argv_tokens, st.integers(1, 20)).map(
        lambda case: case[0][:case[2]] + [case[1]] + case[0][case[2]:]),
)


@PROPERTY_SETTINGS
@given(argv=command_lines)
def test_the_command_line_is_read_as_supervisorctl_reads_it(argv):
    supervisor_options()
    try:
        theirs = supervisorctl_reads(argv, read_configuration=False)
    except Refused:
        theirs = None
    try:
        ours = SupervisorctlCommand(argv)
    except CommandLineError as refused:
        event("both refuse" if theirs is None else "refused: more than options")
        # supervisorctl takes arguments after its options (its command) and -h; this command line may not
        assert theirs is None or theirs.args, str(refused)
        return
    if theirs is None:
        event("only supervisorctl refuses: the server URL")
        from supervisor.datatypes import url
        with pytest.raises(ValueError):
            url(ours.given["serverurl"])
        return
    event("both read")
    assert not theirs.args
    read = (ours.given.get("configuration"), ours.given.get("serverurl"), ours.given.get("username"), ours.password,
            ours.given.get("history_file"))
    assert read == (theirs.configfile, theirs.serverurl, theirs.username, theirs.password, theirs.history)


@PROPERTY_SETTINGS
@given(layout=st.lists(st.sampled_from(["bin", "sbin", "..", "opt", "venv"]), max_size=3), absolute=st.booleans(),
       name=st.sampled_from(["supervisorctl", "sctl"]))
def test_the_configuration_is_searched_where_supervisorctl_searches(layout, absolute, name):
    program = os.path.join(*(["/"] if absolute else []) + layout + [name]) if layout or absolute else name
    if os.sep not in program:
        return  # a bare name is found on PATH: below
    assert search_paths(program) == supervisorctl_options(program).searchpaths


def test_a_bare_name_is_searched_from_where_path_finds_it(tmp_path, monkeypatch):
    supervisor_options()
    (tmp_path / "bin").mkdir()
    found = tmp_path / "bin" / "supervisorctl"
    found.write_text("#!/bin/sh\n")
    found.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    # run as a bare name, supervisorctl's sys.argv[0] is the path PATH found
    assert search_paths("supervisorctl") == supervisorctl_options(str(found)).searchpaths
    assert search_paths("supervisorctl")[1] == str(tmp_path / "supervisord.conf")


@PROPERTY_SETTINGS
@given(password=passwords())
def test_supervisorctl_reads_back_the_password_written_for_it_or_it_is_refused(password, tmp_path_factory):
    supervisor_options()
    try:
        written = configuration_value(password)
    except CommandLineError:
        event("refused")
        return
    event("written")
    path = os.path.join(str(tmp_path_factory.mktemp("sv")), "private.conf")
    with open(path, "w") as handle:
        handle.write("[supervisorctl]\npassword=%s\n" % written)
    assert supervisorctl_reads(["supervisorctl", "-c", path], read_configuration=True).password == password


# Values a configuration file holds on one line: configparser strips them, ';' or '#' after a space
# starts a comment, '%' starts an expansion (written '%%'), '%(here)s' is put in separately.
file_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n%;#\x00"), max_size=12).map(str.strip)


@st.composite
def sections(draw) -> Dict[str, str]:
    """A [supervisorctl] section: some of serverurl, username, password, as written in the file."""
    keys = draw(st.lists(st.sampled_from(ENDPOINT_KEYS), unique=True))
    section = {}
    for key in keys:
        parts = draw(st.lists(st.one_of(file_text, st.just("%%"), st.just("%(here)s") if key == "serverurl" else file_text),
                              max_size=3))
        section[key] = "".join(parts).strip()
    if "serverurl" in section:
        section["serverurl"] = "unix://" + section["serverurl"].lstrip("/")  # a socket beside the file, or under it
    return section


@FILE_SETTINGS
@given(section=sections(), data=st.data())
def test_supervisorctl_run_in_its_place_uses_the_server_username_and_password_the_user_gave(section, data, tmp_path_factory):
    """The command line run (password in a private file) and the one written: the same to supervisorctl."""
    supervisor_options()
    directory = str(tmp_path_factory.mktemp("sv"))
    conf = os.path.join(directory, "supervisord.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write("[supervisord]\nlogfile=/tmp/x.log\n\n[supervisorctl]\n; where supervisorctl goes\n")
        handle.write("".join("%s = %s\n" % item for item in section.items()))
    password = data.draw(values.filter(lambda text: text == text.strip() and not any(c in text for c in "\r\n;#")))
    model = data.draw(models(keys=("serverurl", "username", "interactive"),
                             value_strategy=st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True)))
    if "serverurl" in model:
        model["serverurl"] = "unix:///run/" + model["serverurl"]
    model["configuration"] = conf
    apart = data.draw(st.booleans())
    if not apart:
        model["password"] = password
    written = data.draw(rendered(model))
    theirs = supervisorctl_reads(written, read_configuration=True)
    command = SupervisorctlCommand(written, password=password if apart else None)
    private = os.path.join(directory, "private")
    os.mkdir(private)
    with command.command_line(private) as run:
        assert SupervisorctlCommand(run).password is None
        ours = supervisorctl_reads(run, read_configuration=True)
    assert (ours.serverurl, ours.username, ours.password) == (theirs.serverurl, theirs.username, password)
    event("server from the file" if "serverurl" in section and "serverurl" not in model else "server given or default")


# --- the endpoint (XML-RPC) read from a configuration file ----------------------------------------

@FILE_SETTINGS
@given(section=sections(), data=st.data())
def test_the_endpoint_is_what_supervisorctl_would_use(section, data, tmp_path_factory):
    supervisor_options()
    directory = str(tmp_path_factory.mktemp("sv"))
    conf = os.path.join(directory, "supervisord.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write("[supervisorctl]\n" + "".join("%s = %s\n" % item for item in section.items()))
    model = data.draw(models(keys=("serverurl", "username", "password"),
                             value_strategy=st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True)))
    if "serverurl" in model:
        model["serverurl"] = "unix:///run/" + model["serverurl"]
    model["configuration"] = conf
    argv = data.draw(rendered(model))
    theirs = supervisorctl_reads(argv, read_configuration=True)
    assert SupervisorctlCommand(argv).endpoint() == {
        "serverurl": theirs.serverurl, "username": theirs.username, "password": theirs.password}


@FILE_SETTINGS
@given(value=file_text, name=st.from_regex(r"ENV_[A-Z_]{1,10}", fullmatch=True), key=st.sampled_from(ENDPOINT_KEYS))
def test_an_environment_expansion_leaves_the_endpoint_to_supervisorctl(value, name, key, tmp_path_factory):
    path = os.path.join(str(tmp_path_factory.mktemp("sv")), "supervisord.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[supervisorctl]\n%s = %s%%(%s)s\n" % (key, value, name))
    assert SupervisorctlCommand(["supervisorctl", "-c", path]).endpoint() is None
    # the command line's server URL wins over the file's, whose expansion then does not matter
    endpoint = SupervisorctlCommand(["supervisorctl", "-c", path, "-s", "unix:///run/sv.sock"]).endpoint()
    assert (endpoint is None) == (key != "serverurl")


@FILE_SETTINGS
@given(content=st.binary(max_size=200), data=st.data())
def test_a_configuration_that_is_missing_or_not_one_gives_none_or_an_endpoint(content, data, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("sv"))
    path = os.path.join(directory, "supervisord.conf")
    kind = data.draw(st.sampled_from(["missing", "directory", "bytes"]))
    if kind == "bytes":
        with open(path, "wb") as handle:
            handle.write(content)
    elif kind == "directory":
        os.mkdir(path)
    event(kind)
    endpoint = SupervisorctlCommand(["supervisorctl", "-c", path]).endpoint()
    if kind != "bytes":
        assert endpoint is None
    else:
        assert endpoint is None or (sorted(endpoint) == sorted(ENDPOINT_KEYS) and isinstance(endpoint["serverurl"], str))


@pytest.mark.parametrize("argv", [["supervisorctl", "-c", "\x00"], ["supervisorctl", "--configuration=a\x00b"]])
def test_a_configuration_path_holding_nul_gives_none(argv):
    assert SupervisorctlCommand(argv).endpoint() is None


@PROPERTY_SETTINGS
@given(tokens=st.lists(argv_tokens, max_size=8))
def test_any_command_line_gives_a_command_or_command_line_error_never_another_exception(tokens):
    try:
        command = SupervisorctlCommand(["supervisorctl"] + tokens)
    except CommandLineError:
        event("refused")
        return
    endpoint = command.endpoint()
    event("endpoint" if endpoint else "none")
    if endpoint is not None:
        assert sorted(endpoint) == sorted(ENDPOINT_KEYS) and isinstance(endpoint["serverurl"], str)
    assert command.rpc(timeout=5) is None or isinstance(command.rpc(timeout=5), SupervisorRPC)


# --- the client made from a command line -------------------------------------------------------

server_urls = st.one_of(
    st.builds(lambda path: "unix://" + path, st.from_regex(r"(/[A-Za-z0-9._-]{1,8}){1,3}", fullmatch=True)),
    st.builds(lambda scheme, host, port: "%s://%s:%d" % (scheme, host, port),
              st.sampled_from(["http", "https", "tcp", "HTTP"]), st.sampled_from(["localhost", "127.0.0.1", "sv.example"]),
              st.integers(1, 65535)),
)


@PROPERTY_SETTINGS
@given(url=server_urls, username=st.none() | values, password=st.none() | values)
def test_a_client_is_made_for_unix_and_http_server_urls_only(url, username, password):
    words = ["supervisorctl", "-s", url]
    if username is not None:
        words += ["-u", username]
    if password is not None:
        words += ["--password=" + password]
    rpc = SupervisorctlCommand(words).rpc(timeout=5)
    supported = url.split("://", 1)[0].lower() in ("unix", "http")  # a URL's scheme is case-insensitive
    event("supported" if supported else "unsupported")
    if supported:
        assert isinstance(rpc, SupervisorRPC) and rpc.serverurl == url
    else:
        assert rpc is None
