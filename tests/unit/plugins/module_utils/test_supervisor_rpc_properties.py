# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of reading supervisord's endpoint from a supervisorctl command line.

Command lines are rendered from a model (options in any order, repeated, short, long and
``--opt=value`` spellings) and the endpoint expected is worked out from that model, not from
the code: the last spelling of an option counts, the command line wins over the file's
``[supervisorctl]`` section key by key, ``%(here)s`` is the file's directory, and anything this
reading does not understand leaves the command line to supervisorctl (None).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils._supervisor_rpc import (
    SupervisorRPC,
    endpoint_from_command,
    rpc_from_command,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])
FILE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=60)

# Written out rather than imported, so a wrong table in the code under test shows.
SHORT = {"configuration": "-c", "serverurl": "-s", "username": "-u", "password": "-p"}
LONG = {key: "--" + key for key in SHORT}
KNOWN = set(SHORT.values()) | set(LONG.values())
DEFAULT_SERVERURL = "http://localhost:9001"
ENDPOINT_KEYS = ("serverurl", "username", "password")

# Command-line values: anything but NUL (a value is one argv element, so any other character may be in it).
values = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
# Values a configuration file can hold on one line and give back unchanged: configparser strips
# them and would take a '%' for the start of an expansion; '%(here)s' is put in separately.
file_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n%"), max_size=20).map(str.strip)


@st.composite
def file_values(draw) -> str:
    """A configuration value, maybe with '%(here)s' anywhere in it."""
    parts = draw(st.lists(st.one_of(file_text, st.just("%(here)s")), max_size=3))
    return "".join(parts).strip()


def render_option(draw, key: str, value: str) -> List[str]:
    """One option of the model as supervisorctl's users may write it."""
    spelling = draw(st.sampled_from(["short", "long", "long="]))
    if spelling == "short":
        return [SHORT[key], value]
    if spelling == "long":
        return [LONG[key], value]
    return ["%s=%s" % (LONG[key], value)]


@st.composite
def option_lists(draw, keys: Tuple[str, ...] = ENDPOINT_KEYS, require: Optional[str] = None) -> List[Tuple[str, str]]:
    """(key, value) pairs in command-line order, keys repeated or left out."""
    options = draw(st.lists(st.tuples(st.sampled_from(keys), values), max_size=5))
    if require is not None and require not in dict(options):
        position = draw(st.integers(0, len(options)))
        options.insert(position, (require, draw(values)))
    return options


def render(draw, options: List[Tuple[str, str]], program: str = "supervisorctl") -> List[List[str]]:
    """argv[0] and the options, one list of tokens per option (so tokens can go between them)."""
    return [[program]] + [render_option(draw, key, value) for key, value in options]


def last_values(options: List[Tuple[str, str]]) -> Dict[str, str]:
    model: Dict[str, str] = {}
    for key, value in options:
        model[key] = value
    return model


def flatten(groups: List[List[str]]) -> List[str]:
    return [token for group in groups for token in group]


@st.composite
def command_lines_with_server_url(draw) -> Tuple[List[str], Dict[str, Optional[str]]]:
    options = draw(option_lists(require="serverurl"))
    given_values = last_values(options)
    program = draw(st.sampled_from(["supervisorctl", "/usr/bin/supervisorctl", "/opt/venv/bin/supervisorctl"]))
    argv = flatten(render(draw, options, program))
    return argv, {key: given_values.get(key) for key in ENDPOINT_KEYS}


@PROPERTY_SETTINGS
@given(case=command_lines_with_server_url())
def test_a_server_url_on_the_command_line_is_the_endpoint_with_the_last_value_of_each_option(case):
    argv, expected = case
    event("with credentials" if expected["username"] is not None else "no username")
    assert endpoint_from_command(argv) == expected


@PROPERTY_SETTINGS
@given(options=option_lists(keys=("username", "password")), data=st.data())
def test_without_configuration_or_server_url_supervisorctl_is_left_to_find_its_own(options, data):
    assert endpoint_from_command(flatten(render(data.draw, options))) is None


# --- the configuration file ----------------------------------------------------------------------

@st.composite
def configurations(draw) -> Tuple[str, Optional[Dict[str, str]]]:
    """(file text, the [supervisorctl] section's values or None when the file has no such section)."""
    delimiter = draw(st.sampled_from(["=", " = ", ":", " : ", "\t= "]))
    before = "[unix_http_server]\nfile = /run/supervisor.sock\nchmod = 0700\n\n"
    after = "\n[supervisord]\nlogfile = /var/log/supervisord.log\n\n[program:shop]\ncommand = /opt/shop/current/bin/shop\n"
    if not draw(st.booleans()):
        return before + after, None
    section = draw(st.dictionaries(st.sampled_from(ENDPOINT_KEYS), file_values(), max_size=3))
    lines = ["[supervisorctl]", "; the endpoint supervisorctl uses"]
    lines += ["%s%s%s" % (key, delimiter, value) for key, value in section.items()]
    # keys of supervisorctl this reading does not use must not disturb it
    if draw(st.booleans()):
        lines.insert(draw(st.integers(1, len(lines))), "history_file = ~/.sc_history")
    return before + "\n".join(lines) + "\n" + after, section


def expand_here(value: str, here: str) -> str:
    return value.replace("%(here)s", here)


@FILE_SETTINGS
@given(configuration=configurations(), options=option_lists(), data=st.data())
def test_the_configuration_is_read_back_and_the_command_line_wins_key_by_key(configuration, options, data, tmp_path_factory):
    text, section = configuration
    directory = str(tmp_path_factory.mktemp("sv"))
    path = os.path.join(directory, "supervisord.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    groups = render(data.draw, options)
    configuration_option = render_option(data.draw, "configuration", path)
    groups.insert(data.draw(st.integers(1, len(groups))), configuration_option)
    given_values = last_values(options)
    from_file = {key: expand_here(value, directory) for key, value in (section or {}).items()}
    expected = {key: given_values.get(key, from_file.get(key)) for key in ENDPOINT_KEYS}
    if expected["serverurl"] is None:
        expected["serverurl"] = DEFAULT_SERVERURL
    event("no [supervisorctl] section" if section is None else "%d keys in the file" % len(section))
    event("file overridden" if set(given_values) & set(from_file) else "file not overridden")
    assert endpoint_from_command(flatten(groups)) == expected


@FILE_SETTINGS
@given(value=file_values(), name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), data=st.data())
def test_an_expansion_other_than_here_leaves_the_command_line_to_supervisorctl(value, name, data, tmp_path_factory):
    if name == "here":
        name = "ENV_HOME"
    position = data.draw(st.integers(0, len(value)))
    key = data.draw(st.sampled_from(ENDPOINT_KEYS))
    path = os.path.join(str(tmp_path_factory.mktemp("sv")), "supervisord.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[supervisorctl]\n%s = %s%%(%s)s%s\n" % (key, value[:position], name, value[position:]))
    assert endpoint_from_command(["supervisorctl", "-c", path]) is None
    assert endpoint_from_command(["supervisorctl", "-c", path, "-s", "unix:///run/sv.sock"]) is None


@FILE_SETTINGS
@given(content=st.binary(max_size=200), data=st.data())
def test_a_configuration_that_is_missing_or_not_a_configuration_gives_none_or_an_endpoint(content, data, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("sv"))
    path = os.path.join(directory, "supervisord.conf")
    kind = data.draw(st.sampled_from(["missing", "directory", "bytes"]))
    if kind == "bytes":
        with open(path, "wb") as handle:
            handle.write(content)
    elif kind == "directory":
        os.mkdir(path)
    event(kind)
    endpoint = endpoint_from_command(["supervisorctl", "-c", path])
    if kind != "bytes":
        assert endpoint is None
    else:
        assert endpoint is None or (sorted(endpoint) == sorted(ENDPOINT_KEYS) and isinstance(endpoint["serverurl"], str))


# --- what this reading does not understand -------------------------------------------------------

# supervisorctl's other options and forms this reading leaves alone, and words that are no option at all
UNKNOWN = ["-i", "--interactive", "-h", "--help", "-v", "--version", "-r", "--history-file=/tmp/h", "-c/etc/sv.conf",
           "-s=http://localhost:9001", "--server-url=http://x", "--user=ops", "--Username", "status", "start", "shop", "-",
           "--", "", "-cs"]
unknown_tokens = st.one_of(
    st.sampled_from(UNKNOWN),
    values.filter(lambda token: token not in KNOWN and not any(token.startswith(option + "=") for option in LONG.values())),
)


@PROPERTY_SETTINGS
@given(options=option_lists(keys=tuple(SHORT)), unknown=unknown_tokens, data=st.data())
def test_an_option_this_reading_does_not_know_anywhere_gives_none(options, unknown, data):
    groups = render(data.draw, options)
    groups.insert(data.draw(st.integers(1, len(groups))), [unknown])
    assert endpoint_from_command(flatten(groups)) is None


@PROPERTY_SETTINGS
@given(options=option_lists(require="serverurl"), dangling=st.sampled_from(sorted(KNOWN)), data=st.data())
def test_an_option_left_without_its_value_at_the_end_gives_none(options, dangling, data):
    argv = flatten(render(data.draw, options)) + [dangling]
    assert endpoint_from_command(argv) is None


# Tokens that would make the reading open a device or a special file (reading /dev/zero never ends).
def harmless(token: str) -> bool:
    return not any(part in token for part in ("/dev", "/proc", "/sys"))


argv_tokens = st.one_of(st.sampled_from(sorted(KNOWN) + UNKNOWN), values.filter(harmless),
                        st.sampled_from(sorted(LONG.values())).flatmap(lambda option: values.filter(harmless).map(lambda value: option + "=" + value)))


@PROPERTY_SETTINGS
@given(argv=st.lists(argv_tokens, min_size=1, max_size=8))
def test_any_command_line_gives_none_or_an_endpoint_never_an_exception(argv):
    endpoint = endpoint_from_command(argv)
    event("endpoint" if endpoint else "none")
    if endpoint is not None:
        assert sorted(endpoint) == sorted(ENDPOINT_KEYS)
        assert isinstance(endpoint["serverurl"], str)
        assert all(endpoint[key] is None or isinstance(endpoint[key], str) for key in ("username", "password"))


# open() refuses a path holding NUL with ValueError: that too is a configuration that cannot be read
@pytest.mark.parametrize("argv", [["supervisorctl", "-c", "\x00"], ["supervisorctl", "--configuration=a\x00b"]])
def test_a_configuration_path_holding_nul_gives_none(argv):
    assert endpoint_from_command(argv) is None


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
    rpc = rpc_from_command(words, timeout=5)
    supported = url.split("://", 1)[0].lower() in ("unix", "http")  # a URL's scheme is case-insensitive
    event("supported" if supported else "unsupported")
    if supported:
        assert isinstance(rpc, SupervisorRPC) and rpc.serverurl == url
    else:
        assert rpc is None


@PROPERTY_SETTINGS
@given(argv=st.lists(argv_tokens, min_size=1, max_size=8))
def test_any_command_line_gives_a_client_or_none_never_an_exception(argv):
    rpc = rpc_from_command(argv, timeout=5)
    assert rpc is None or isinstance(rpc, SupervisorRPC)
