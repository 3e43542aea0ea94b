# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve every variable a run's roles take, as those roles will see it, and check it; changes nothing.

The variables, their types and their defaults come from the collection's one declaration of them,
meta/variables.yml. A variable the play does not set gets its role default, templated with the
host's variables, so a default that needs a variable nobody set (``deploy_health_url`` without
``deploy_port``) is found here, before the lock, instead of halfway through a rollout.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Tuple

import yaml

from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import ArgumentTypeError, RequiredError
from ansible.plugins.action import ActionBase

try:  # ansible-core 2.19+ templates only strings trusted as templates; the roles' own files are
    from ansible.template import trust_as_template
except ImportError:  # before 2.19 every string is a template
    def trust_as_template(value):
        return value

from ansible_collections.lastmile.deploy.plugins.module_utils.run.spec import SOURCE_PATH, entry_options, role_defaults
from ansible_collections.lastmile.deploy.plugins.module_utils.run.spec import playbooks as declared_playbooks
from ansible_collections.lastmile.deploy.plugins.module_utils.run.spec import roles as declared_roles
from ansible_collections.lastmile.deploy.plugins.module_utils.run.variables import (
    check_colours,
    check_lb_hosts,
    resolve_hooks,
    check_given_types,
    check_values,
    shown,
    undefined_name,
)

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), *SOURCE_PATH)
# libyaml where PyYAML has it: this runs once per host, and Ansible's own loader (which tags every
# string with its origin, then hands out a deep copy) costs ten times as long on this file
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TYPE_ERROR = re.compile(r"argument '([^']+)' is of type .+? and we were unable to convert to (\w+)")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("roles", "hooks", "resolve"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        roles = self._task.args.get("roles") or []
        source = _trusted(_load(SOURCE))
        known, playbooks = declared_roles(source), declared_playbooks(source)
        if not isinstance(roles, list) or not all(isinstance(role, str) and (role.partition(":")[0] in known or role in playbooks)
                                                  for role in roles):
            return dict(result, failed=True, msg="roles %s: expected a list of roles of lastmile.deploy (%s), each "
                        "optionally with ':<entry point>', or of its playbooks (%s)"
                        % (shown(roles), ", ".join(known), ", ".join(playbooks)))
        spec = self._options(source, roles)
        defaults_of = role_defaults(source)
        values, problems = self._resolve(spec, defaults_of, task_vars)
        # the roles use each value as given, not as their argument spec would convert it
        given = check_given_types(values, spec)
        problems += list(given.values())
        usable = {name: value for name, value in values.items() if name not in given}
        validated, spec_problems = self._validate({name: option for name, option in spec.items() if name not in given},
                                                  usable)
        problems += spec_problems
        problems += check_values(usable, [name for name, option in spec.items() if option.get("no_log")])
        if any(role.partition(":")[0] == "blue_green" for role in roles) and not spec_problems:
            problems += check_colours(validated.get("deploy_blue_group", "blue"), validated.get("deploy_green_group", "green"),
                                      task_vars.get("ansible_play_hosts") or [], task_vars.get("groups") or {})
        if "deploy_lb_hosts" in validated and not spec_problems:
            problems += self._lb_host_problems(validated, task_vars, defaults_of["deploy_lb_hosts"])
        if "hooks" in self._task.args:
            hooks, hook_problems = resolve_hooks(self._task.args["hooks"], os.getcwd())
            problems += hook_problems
            result["hooks"] = hooks
        deprecations = [dict(msg="%s is deprecated: use %s instead" % (name, replaced["alternative"]),
                             version=str(replaced["removed_in"]), collection_name="lastmile.deploy")
                        for name, replaced in ((name, (source["options"].get(name) or {}).get("deprecated"))
                                               for name in sorted(spec)) if replaced and name in task_vars]
        if deprecations:
            result["deprecations"] = deprecations
        resolve = self._task.args.get("resolve") or []
        secret = [name for name in resolve if (spec.get(name) or {}).get("no_log")]
        if not isinstance(resolve, list) or secret:
            problems.append("resolve %s: expected a list of variables that are not secret" % shown(secret or resolve))
        else:
            result["resolved"] = {name: values[name] for name in resolve if name in usable}
        result.update(changed=False, problems=problems, checked=sorted(values),
                      empty=sorted(name for name, value in values.items() if value is None or value in ("", [], {})))
        if problems:
            result.update(failed=True, msg="; ".join(problems))
        return result

    @staticmethod
    def _lb_host_problems(validated: Dict[str, Any], task_vars: Dict[str, Any], default: Any) -> List[str]:
        """The LB hosts are inventory hosts, and the run sets deploy_lb_hosts or its deprecated form, not both (the
        task sees the role default of deploy_lb_hosts when nobody sets it)."""
        problems = check_lb_hosts(validated["deploy_lb_hosts"], validated.get("deploy_lb_provider", "haproxy"),
                                  (task_vars.get("groups") or {}).get("all") or [])
        if "deploy_lb_host" in task_vars and str(task_vars.get("deploy_lb_hosts", default)) != str(default):
            problems.append("deploy_lb_host and deploy_lb_hosts are both set: set deploy_lb_hosts only "
                            "(deploy_lb_host is its deprecated single-host form)")
        return problems

    @staticmethod
    def _options(source: Dict[str, Any], roles: List[str]) -> Dict[str, Dict[str, Any]]:
        """The options of the entry points (``role`` is its main, ``role:entry`` another), each once; required
        where any of them needs it."""
        options: Dict[str, Dict[str, Any]] = {}
        for role in roles:
            for name, option in entry_options(source, role).items():
                if name in options:
                    options[name]["required"] = options[name].get("required", False) or option.get("required", False)
                else:
                    options[name] = option
        return options

    def _resolve(self, spec: Dict[str, Dict[str, Any]], defaults: Dict[str, Any],
                 task_vars: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
        """{variable: value as the roles will see it}, and why some could not be worked out."""
        available = dict(defaults)
        available.update(task_vars)
        templar = self._templar.copy_with_new_env(available_variables=available)
        values, problems = {}, []
        unset: Dict[str, List[Tuple[str, str]]] = {}  # variable not set -> [(variable that needs it, origin)]
        for name in sorted(spec):
            if name in task_vars:
                raw, origin = task_vars[name], "its value"
            elif name in defaults:
                raw, origin = defaults[name], "its default"
            else:
                continue
            try:
                values[name] = templar.template(raw)
            except AnsibleUndefinedVariable as exc:
                missing = undefined_name(str(exc))
                if missing:
                    unset.setdefault(missing, []).append((name, origin))
                else:
                    problems.append(_unworkable(name, origin, exc, spec[name]))
            except AnsibleError as exc:
                problems.append(_unworkable(name, origin, exc, spec[name]))
        for missing, needing in unset.items():
            if spec.get(missing, {}).get("required"):
                continue  # a required variable that is not set is named as such, once
            # a value the play sets names the variable to fix better than a default that uses it
            needing.sort(key=lambda pair: pair[1] != "its value")
            (name, origin), others = needing[0], [other for other, _origin in needing[1:]]
            problems.append("%s cannot be worked out: %s uses %s, which is not set: set %s (or %s)%s"
                            % (name, origin, missing, missing, name,
                               "; %s also need%s it" % (", ".join(others), "s" if len(others) == 1 else "") if others else ""))
        return values, problems

    @staticmethod
    def _validate(spec: Dict[str, Dict[str, Any]], values: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
        """Types, choices and required variables, with messages naming the variable, its value and the type."""
        validator = ArgumentSpecValidator(spec)
        try:
            validation = validator.validate(values, validate_role_argument_spec=True)
        except TypeError:  # ansible-core before 2.17 has no validate_role_argument_spec
            validation = validator.validate(values)
        problems = []
        for error in validation.errors:
            text = error.msg
            match = _TYPE_ERROR.search(text) if isinstance(error, ArgumentTypeError) else None
            if match:
                name = match.group(1)
                text = "%s %s: expected a value of type %s" % (name, shown(values.get(name), spec.get(name, {}).get("no_log", False)),
                                                               match.group(2))
            elif isinstance(error, RequiredError):
                names = text.split(":", 1)[-1].split(",")
                text = "; ".join("%s is not set: expected %s" % (name.strip(), _summary(spec.get(name.strip(), {})))
                                 for name in names)
            problems.append(remove_values(text, validation._no_log_values))
        return validation.validated_parameters, problems


def _unworkable(name: str, origin: str, exc: AnsibleError, option: Dict[str, Any]) -> str:
    """Why a variable cannot be templated; for a secret, without the templating error, which may quote it."""
    if option.get("no_log"):
        return "%s cannot be worked out from %s, which is hidden: it is not a valid template" % (name, origin)
    return "%s cannot be worked out from %s: %s" % (name, origin, exc.message)


def _load(path: str) -> Dict[str, Any]:
    """The collection's declaration of its variables, as plain data."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_YAML_LOADER) or {}


def _trusted(value: Any) -> Any:
    """The collection's own YAML, with its strings trusted as templates as Ansible trusts a role's defaults."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def _summary(option: Dict[str, Any]) -> str:
    """The first sentence of an option's description, as 'expected ...' text."""
    description = option.get("description") or "a value"
    if isinstance(description, list):
        description = description[0] if description else "a value"
    text = re.split(r"(?<=[a-z0-9)])\. (?=[A-Z])", re.sub(r"[A-Z]\(([^)]*)\)", r"\1", str(description)))[0].rstrip(".")
    return text[0].lower() + text[1:] if text else "a value"
