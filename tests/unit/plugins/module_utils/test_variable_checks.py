# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of a run's values, and messages about many hosts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import group_by_message, hosts_text
from ansible_collections.lastmile.deploy.plugins.module_utils.run.variables import (
    HIDDEN,
    HOOK_PHASES,
    check_colours,
    check_lb_hosts,
    check_given_types,
    check_values,
    resolve_hooks,
    shown,
    undefined_name,
)

GOOD = {"deploy_version": "1.4.2", "deploy_batch": "25%", "deploy_canary_steps": [10, 50, 100],
        "deploy_health_url": "http://10.0.0.1:8080/health", "deploy_artifact": "https://a.example/shop.tgz",
        "deploy_checksum": "sha256:" + "a" * 64}


def test_good_values_pass():
    assert check_values(GOOD) == []
    assert check_values(dict(GOOD, deploy_checksum="https://a.example/SHA256SUMS")) == []
    assert check_values(dict(GOOD, deploy_checksum="/srv/SHA256SUMS", deploy_artifact="/srv/shop.tgz")) == []


@pytest.mark.parametrize("name, value, expected", [
    ("deploy_version", "../evil", "deploy_version '../evil': release id '../evil' is invalid"),
    ("deploy_batch", "abc", "deploy_batch 'abc': batch size 'abc' is not a number or a percentage"),
    ("deploy_batch", 0, "deploy_batch 0: batch size 0 must be a whole number of at least 1"),
    ("deploy_batch", "150%", "deploy_batch '150%': batch size '150%' must be a percentage above 0 and at most 100"),
    ("deploy_canary_steps", [], "deploy_canary_steps []: steps must be a non-empty list"),
    ("deploy_canary_steps", [10, 10], "step 2 (10) does not rise above step 1 (10)"),
    ("deploy_health_url", "ftp://x/health", "deploy_health_url 'ftp://x/health': expected an http:// or https:// URL"),
    ("deploy_artifact", "s3://bucket/shop.tgz", "deploy_artifact 's3://bucket/shop.tgz': expected a controller path or an http"),
    ("deploy_checksum", "md5:abc", "deploy_checksum 'md5:abc': unsupported checksum 'md5:abc'"),
    ("deploy_checksum", "sha512:" + "0" * 64, "sha512 needs 128"),
])
def test_each_bad_value_is_named_with_what_was_expected(name, value, expected):
    problems = check_values(dict(GOOD, **{name: value}))
    assert len(problems) == 1 and expected in problems[0], problems


def test_an_empty_checksum_needs_allow_unverified():
    (problem,) = check_values(dict(GOOD, deploy_checksum=""))
    assert problem.startswith("deploy_checksum is empty") and "'https://a.example/shop.tgz'" in problem
    assert check_values(dict(GOOD, deploy_checksum="", deploy_allow_unverified=True)) == []


def test_a_secret_value_is_never_shown():
    (problem,) = check_values(dict(GOOD, deploy_health_url="token-1234"), secrets=["deploy_health_url"])
    assert "token-1234" not in problem and HIDDEN in problem


@given(st.text(max_size=300))
def test_shown_is_short_and_hides_secrets(value):
    assert len(shown(value)) <= 120
    assert shown(value, secret=True) == HIDDEN


def test_colours_must_be_disjoint_groups_of_the_play():
    groups = {"blue": ["a", "b"], "green": ["c"], "all": ["a", "b", "c", "d"]}
    assert check_colours("blue", "green", ["a", "b", "c"], groups) == []
    assert check_colours("blu", "green", ["a", "c"], groups) == [
        "deploy_blue_group 'blu': no such group in the inventory; blue-green needs hosts of the play in groups blu and green"]
    assert "none of its hosts is in this play" in check_colours("blue", "green", ["c"], groups)[0]
    assert check_colours("blue", "all", ["a", "b", "c"], groups) == [
        "deploy_blue_group 'blue' and deploy_green_group 'all' share a, b: expected two disjoint groups"]


def test_undefined_name():
    assert undefined_name("'deploy_port' is undefined") == "deploy_port"
    assert undefined_name("something else") is None


def test_messages_are_said_once_with_their_hosts():
    lines = group_by_message({"w1": ["port not set", "batch bad"], "w2": ["port not set", "batch bad"], "w3": ["port not set"],
                              "w4": []}, ["w1", "w2", "w3", "w4"])
    assert lines == ["w1, w2, w3: port not set", "w1, w2: batch bad"]
    assert group_by_message({"a": ["x"], "b": ["x"], "c": ["x"]}, ["a", "b", "c"]) == ["every host (3): x"]
    assert hosts_text(["h%d" % n for n in range(12)]) == "h0, h1, h2, h3, h4, h5, h6, h7 and 4 more"


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(st.sampled_from(["m1", "m2", "m3"]), max_size=3)))
def test_every_message_keeps_exactly_its_hosts(messages):
    lines = group_by_message(messages, sorted(messages))
    said = {}
    for line in lines:
        hosts, _sep, text = line.partition(": ")
        named = sorted(messages) if hosts.startswith("every host") else hosts.split(", ")
        for message in text.split("; "):
            assert message not in said, "a message is said twice"
            said[message] = sorted(named)
    assert said == {m: sorted(h for h, ms in messages.items() if m in ms) for ms in messages.values() for m in ms}


def test_urls_keep_their_credentials_hidden():
    assert shown("https://deployer:pw-123@artifacts.example/shop.tgz") == "'https://<hidden>@artifacts.example/shop.tgz'"
    assert shown(["s3://key:secret@bucket/x"]) == "['s3://<hidden>@bucket/x']"


@pytest.mark.parametrize("name, kind, value, expected", [
    ("deploy_canary_steps", "list", "10,50,100", "expected a list"),
    ("deploy_artifact_headers", "dict", "Authorization: x", "expected a mapping of names to values"),
    ("deploy_version", "str", ["1.0"], "expected a string, got a list"),
    ("deploy_root", "path", 5, "expected a path, got an integer"),
])
def test_values_of_another_type_than_the_roles_use_are_named(name, kind, value, expected):
    problems = check_given_types({name: value}, {name: {"type": kind}})
    assert list(problems) == [name] and expected in problems[name]
    assert check_given_types({name: {"list": [1], "dict": {"a": 1}, "str": "1.0", "path": "/opt"}[kind]},
                             {name: {"type": kind}}) == {}


def test_lb_hosts_must_be_in_the_inventory_and_not_empty():
    assert check_lb_hosts(["lb1", "lb2"], "haproxy", ["app1", "lb1", "lb2"]) == []
    assert check_lb_hosts(["localhost"], "haproxy", ["app1"]) == []
    assert check_lb_hosts([], "none", []) == []
    assert check_lb_hosts(["lb1", "lb-1", "lb_2"], "haproxy", ["lb1"]) == [
        "deploy_lb_hosts ['lb1', 'lb-1', 'lb_2']: lb-1, lb_2 are not in the inventory; expected inventory hosts of the "
        "load balancer"]
    assert check_lb_hosts([], "haproxy", ["lb1"])[0].startswith("deploy_lb_hosts is empty")


def test_hooks_resolve_to_absolute_paths_from_the_run_directory(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "migrate.yml").write_text("---\n[]\n")
    absolute = tmp_path / "smoke.yml"
    absolute.write_text("---\n[]\n")
    hooks, problems = resolve_hooks({"once_before_switch": "hooks/migrate.yml", "once_after": [str(absolute)],
                                     "after_verify": []}, str(tmp_path))
    assert problems == []
    assert hooks == {"once_before_switch": [str(tmp_path / "hooks" / "migrate.yml")], "once_after": [str(absolute)]}
    assert resolve_hooks({}, str(tmp_path)) == ({}, []) and resolve_hooks(None, str(tmp_path)) == ({}, [])


def test_bad_hooks_are_named_and_give_no_hooks(tmp_path):
    hooks, problems = resolve_hooks({"before_swich": ["a.yml"], "after_switch": "missing.yml", "on_rollback": [3]},
                                    str(tmp_path))
    assert hooks == {}
    assert problems == [
        "deploy_hooks: 'before_swich' is not a phase; expected one of %s" % ", ".join(HOOK_PHASES),
        "deploy_hooks.after_switch: task file 'missing.yml' not found (looked for %s)" % (tmp_path / "missing.yml"),
        "deploy_hooks.on_rollback [3]: expected a list of task file paths"]
    assert resolve_hooks(["a.yml"], str(tmp_path))[1] == [
        "deploy_hooks ['a.yml']: expected a mapping of phase to a list of task files"]


@pytest.mark.parametrize("paths, bad", [
    (["//evil.example/x"], '"//evil.example/x"'),
    (["evil.example"], '"evil.example"'),
    (["@evil.example/"], '"@evil.example/"'),
    (["/a b"], '"/a b"'),
    (["/x\r\nHost: evil"], '"/x\\r\\nHost: evil"'),
    (["/ok", "/\\\\evil"], '"/\\\\\\\\evil"'),
    ([3], "3"),
])
def test_verify_paths_that_could_leave_the_host_or_break_the_request_are_refused(paths, bad):
    problems = check_values({"deploy_verify_paths": paths})
    assert len(problems) == 1 and bad in problems[0], problems
    assert problems[0].endswith("expected paths that start with one / and hold printable characters without spaces, "
                                "such as /cart")
    assert check_values({"deploy_min_healthy": "75%", "deploy_verify_paths": ["/", "/cart?x=1", "/a@b"]}) == []


@given(st.text(max_size=40))
def test_an_accepted_verify_path_always_stays_on_the_health_urls_host(path):
    """The verify role joins each path to the health URL's scheme and host:port; nothing accepted changes which host
    the request goes to, whatever the path holds."""
    from urllib.parse import urlsplit

    if check_values({"deploy_verify_paths": [path]}):
        return
    joined = urlsplit("http://10.0.0.11:8080" + path)
    assert (joined.scheme, joined.hostname, joined.port) == ("http", "10.0.0.11", 8080)


@pytest.mark.parametrize("value", [-1, "x", "101%", True, "1.5"])
def test_a_bad_min_healthy_is_named_before_the_lock(value):
    problems = check_values({"deploy_min_healthy": value})
    assert len(problems) == 1 and problems[0].startswith("deploy_min_healthy "), problems
