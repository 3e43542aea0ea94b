# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_variables through the ansible CLI: values as the roles will see them, role defaults included."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli

BASE = {"deploy_app": "shop", "deploy_version": "1.4.2", "deploy_artifact": "/srv/shop-1.4.2.tgz",
        "deploy_checksum": "sha256:" + "a" * 64, "deploy_port": 8080}


def check(extra_vars, roles=("lock", "precheck", "rolling"), tmp_path=None, **args):
    """Run the action for localhost with ``extra_vars`` (and more of its ``args``); return (rc, result)."""
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "lastmile.deploy.run_variables",
                         "-a", json.dumps(dict(args, roles=list(roles))), "-e", json.dumps(extra_vars)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    start = done.stdout.find("{", done.stdout.find("localhost | "))
    assert start >= 0, done.stdout + done.stderr
    return done.returncode, json.JSONDecoder().raw_decode(done.stdout[start:])[0]


def test_a_complete_run_passes_and_says_what_it_checked():
    rc, result = check(BASE)
    assert rc == 0, result
    assert result["problems"] == []
    assert {"deploy_health_url", "deploy_root", "deploy_batch", "deploy_version"} <= set(result["checked"])


def test_the_empty_variables_are_named_so_a_step_with_nothing_to_do_is_skipped_once():
    rc, result = check(BASE)
    assert rc == 0, result
    assert {"deploy_precheck_urls", "deploy_precheck_tcp"} <= set(result["empty"]), result["empty"]
    assert "deploy_app" not in result["empty"] and set(result["empty"]) <= set(result["checked"])
    rc, result = check(dict(BASE, deploy_precheck_tcp=["db.internal:5432"]))
    assert rc == 0, result
    assert "deploy_precheck_tcp" not in result["empty"] and "deploy_precheck_urls" in result["empty"]


def test_the_variables_a_playbook_reads_itself_are_checked_too():
    rc, result = check(dict(BASE, deploy_strategy="yolo", deploy_downtime_ok="maybe"), roles=("playbooks/deploy.yml", "lock"))
    assert rc != 0
    assert "value of deploy_strategy must be one of: rolling, recreate, blue_green, canary, auto, got: yolo" in result["problems"]
    assert any(p.startswith("deploy_downtime_ok 'maybe'") for p in result["problems"]), result["problems"]
    rc, result = check(dict(BASE, deploy_strategy="auto"), roles=("playbooks/deploy.yml", "lock"))
    assert rc == 0 and "deploy_strategy" in result["checked"], result
    rc, result = check(BASE, roles=("playbooks/nothing.yml",))
    assert rc != 0 and "playbooks/deploy.yml" in result["msg"], result


def test_resolved_values_are_the_hosts_own_and_secrets_are_refused():
    rc, result = check(BASE, resolve=["deploy_lb_server", "deploy_root"])
    assert rc == 0, result
    # role defaults templated for this host, as the roles will see them
    assert result["resolved"] == {"deploy_lb_server": "localhost", "deploy_root": "/opt/shop"}
    rc, result = check(dict(BASE, deploy_lb_server="shop-{{ inventory_hostname }}"), resolve=["deploy_lb_server"])
    assert rc == 0 and result["resolved"] == {"deploy_lb_server": "shop-localhost"}, result
    rc, result = check(dict(BASE, deploy_artifact_password="s3cr3t-value"), resolve=["deploy_artifact_password"])
    assert rc != 0 and "resolved" not in result and "s3cr3t-value" not in json.dumps(result), result
    assert "resolve ['deploy_artifact_password']: expected a list of variables that are not secret" in result["problems"]


def test_a_default_that_needs_an_unset_variable_is_named():
    rc, result = check({k: v for k, v in BASE.items() if k != "deploy_port"})
    assert rc != 0
    assert result["problems"] == ["deploy_health_url cannot be worked out: its default uses deploy_port, which is not set: "
                                  "set deploy_port (or deploy_health_url)"]
    # the health URL given directly needs no port
    rc, result = check(dict({k: v for k, v in BASE.items() if k != "deploy_port"},
                            deploy_health_url="https://shop.example/health"))
    assert rc == 0, result


def test_a_required_variable_that_is_not_set_is_named_once():
    """deploy_release_target's default is deploy_version: the missing deploy_version is the one problem."""
    rc, result = check({k: v for k, v in BASE.items() if k != "deploy_version"}, roles=("release",))
    assert rc != 0
    assert result["problems"] == ["deploy_version is not set: expected release id to deploy; letters, digits, . _ - +, "
                                  "starting with a letter or digit"]


def test_a_value_that_templates_an_unset_variable_is_named():
    rc, result = check(dict(BASE, deploy_root="/srv/{{ app_dir }}"))
    assert rc != 0
    assert result["problems"] == ["deploy_root cannot be worked out: its value uses app_dir, which is not set: set app_dir "
                                  "(or deploy_root); deploy_capacity_path also needs it"]


def test_types_choices_and_required_variables_name_the_variable_value_and_expectation():
    rc, result = check({"deploy_app": "shop", "deploy_artifact": "/srv/a.tgz", "deploy_checksum": "",
                        "deploy_keep_releases": "five", "deploy_lb_provider": "nginxx"})
    assert rc != 0
    problems = result["problems"]
    assert "deploy_keep_releases 'five': expected a value of type int" in problems
    assert "value of deploy_lb_provider must be one of: haproxy, none, got: nginxx" in problems
    assert any(p.startswith("deploy_version is not set: expected release id to deploy") for p in problems), problems
    assert any(p.startswith("deploy_checksum is empty") for p in problems), problems


def test_secret_values_never_appear():
    rc, result = check(dict(BASE, deploy_artifact_headers="Bearer s3cr3t-value", deploy_artifact_password=["s3cr3t-value"]))
    assert rc != 0
    assert "s3cr3t-value" not in json.dumps(result), result
    assert any(problem.startswith("deploy_artifact_headers <hidden>: expected a mapping of names to values")
               for problem in result["problems"]), result
    assert "deploy_artifact_password <hidden>: expected a string, got a list" in result["problems"]


def test_blue_green_needs_its_groups():
    rc, result = check(BASE, roles=("lock", "precheck", "blue_green"))
    assert rc != 0
    assert result["problems"][0].startswith("deploy_blue_group 'blue': no such group in the inventory")


def test_unknown_roles_are_refused():
    rc, result = check(BASE, roles=("lock", "rollin"))
    assert rc != 0 and result["msg"].startswith("roles ['lock', 'rollin']: expected a list of roles of lastmile.deploy")


def declared():
    with open(os.path.join(REPO, "meta", "variables.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# every role, and every entry point some option is declared for alone
ALL_ROLES = sorted(declared()["roles"]) + sorted({user for option in declared()["options"].values()
                                                  for user in option["used_by"] if ":" in user})


def test_a_value_outside_its_choices_is_refused_naming_the_variable_and_the_choices():
    """Every declared option with choices, set outside them in one run: each is named with what it may be."""
    choices = {name: option["choices"] for name, option in declared()["options"].items() if option.get("choices")
               and any(not user.startswith("playbooks/") for user in option["used_by"])}
    assert len(choices) >= 6, choices
    rc, result = check(dict(BASE, **{name: "not-a-choice" for name in choices}), roles=ALL_ROLES)
    assert rc != 0
    for name, allowed in choices.items():
        named = [problem for problem in result["problems"] if name in problem and "not-a-choice" in problem]
        assert named, (name, result["problems"])
        assert all(str(choice) in named[0] for choice in allowed), named[0]


# a value of another type for each type, and the words naming the type expected
WRONG_TYPE = {"int": ("many", "type int"), "float": ("lots", "type float"), "bool": ("maybe", "type bool"),
              "list": ("a,b", "a list"), "dict": ("a=b", "a mapping"), "str": (["x"], "a string"), "path": (["x"], "a path")}


def test_a_value_of_the_wrong_type_is_refused_naming_the_variable_and_the_type():
    options = {name: option for name, option in declared()["options"].items() if option.get("type", "str") in WRONG_TYPE
               and any(not user.startswith("playbooks/") for user in option["used_by"])}
    rc, result = check(dict(BASE, **{name: WRONG_TYPE[option.get("type", "str")][0] for name, option in options.items()}),
                       roles=ALL_ROLES)
    assert rc != 0
    for name, option in options.items():
        expected = WRONG_TYPE[option.get("type", "str")][1]
        assert any(problem.startswith(name + " ") and expected in problem for problem in result["problems"]), \
            (name, expected, [problem for problem in result["problems"] if name in problem])


STEP_ROLES = ("release:stage", "service", "traffic:restore", "verify", "notify:outcome")


@pytest.mark.parametrize("roles", [("lock", "precheck", strategy) + STEP_ROLES for strategy in ("rolling", "recreate", "canary")]
                         + [("lock", "rollback") + STEP_ROLES[1:]])
def test_every_run_passes_with_its_defaults(roles):
    """The roles the deploy and rollback playbooks check, with the role defaults and nothing else set."""
    rc, result = check(BASE, roles=roles)
    assert rc == 0, result
    assert "deploy_health_headers" in result["checked"] and "deploy_notify_url" in result["checked"]


@pytest.mark.parametrize("values, problem", [
    ({"deploy_canary_steps": "10,50,100"},
     "deploy_canary_steps '10,50,100': expected a list (on the command line as JSON: -e '{\"deploy_canary_steps\": [...]}'), "
     "got a string"),
    ({"deploy_version": 1.10}, "deploy_version 1.1: release id 1.1 is a number"),
    ({"deploy_notify_url": "ftp://hooks.example/abc"}, "deploy_notify_url <hidden>: expected an http:// or https:// URL"),
    ({"deploy_artifact": "ftp://user:art-s3cr3t@host/shop.tgz"},
     "deploy_artifact 'ftp://<hidden>@host/shop.tgz': expected a controller path or an http:// or https:// URL"),
])
def test_values_the_roles_would_use_as_given_are_checked_as_given(values, problem):
    """Ansible's validation would convert "10,50,100" into a list or 1.10 into "1.1"; the roles get them as given."""
    rc, result = check(dict(BASE, **values), roles=("lock", "precheck", "canary", "notify:outcome"))
    assert rc != 0
    assert any(found.startswith(problem) for found in result["problems"]), result["problems"]
    assert "art-s3cr3t" not in json.dumps(result)


def test_a_secret_that_is_not_a_valid_template_is_not_quoted():
    rc, result = check(dict(BASE, deploy_artifact_password="pw-s3cr3t{% if"))
    assert rc != 0 and "pw-s3cr3t" not in json.dumps(result)
    assert result["problems"] == ["deploy_artifact_password cannot be worked out from its value, which is hidden: "
                                  "it is not a valid template"]
