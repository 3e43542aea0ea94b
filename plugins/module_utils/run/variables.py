# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the values of a run's variables must look like, beyond their types.

Each check takes a value its argument spec already accepted and returns ``None`` or why the run
could not use it. The texts name the variable, its value and what was expected; secret values are
never shown (see ``shown``).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.lastmile.deploy.plugins.module_utils.release.checksum import ChecksumError, parse_checksum
from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import PlanError, batch_size
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.weights import TrafficError, check_steps
from ansible_collections.lastmile.deploy.plugins.module_utils.lb.serving import ServingError, minimum_serving
from ansible_collections.lastmile.deploy.plugins.module_utils.release.version import VersionError, kind_of, validate_version

HIDDEN = "<hidden>"
_URL = re.compile(r"^https?://[^/?#\s]+", re.IGNORECASE)
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s'\"]*@", re.IGNORECASE)


def shown(value: Any, secret: bool = False) -> str:
    """A value as a message shows it: Python-like, cut short, with the user:password@ of any URL in it
    hidden, or hidden whole when it is a secret."""
    if secret:
        return HIDDEN
    text = _USERINFO.sub(r"\1%s@" % HIDDEN, repr(value))
    return text if len(text) <= 120 else text[:117] + "..."


# the Python type each argument spec type needs as given, since the roles use values as given
_GIVEN_AS = {"list": (list,), "dict": (dict,), "str": (str, int, float), "path": (str,)}
_TYPE_WORDS = {"list": "a list (on the command line as JSON: -e '{\"%s\": [...]}')",
               "dict": "a mapping of names to values (on the command line as JSON: -e '{\"%s\": {...}}')",
               "str": "a string", "path": "a path"}


def check_given_types(values: Mapping[str, Any], spec: Mapping[str, Mapping[str, Any]]) -> Dict[str, str]:
    """{variable: problem} for values whose type is not the one the roles will use them as.

    Ansible's own validation would convert ``"10,50,100"`` to a list or ``["x"]`` to a string; the
    roles get the value as given, so such values are refused here instead of failing after the lock.
    """
    problems = {}
    for name, value in values.items():
        kind = spec.get(name, {}).get("type", "str")
        allowed = _GIVEN_AS.get(kind)
        if allowed is None or value is None or isinstance(value, bool) and kind != "str":
            continue
        if not isinstance(value, allowed):
            expected = _TYPE_WORDS[kind] % name if "%s" in _TYPE_WORDS[kind] else _TYPE_WORDS[kind]
            got = kind_of(value)
            problems[name] = "%s %s: expected %s, got %s %s" % (
                name, shown(value, spec[name].get("no_log", False)), expected, "an" if got[0] in "aeiou" else "a", got)
    return problems


def _version(value: Any) -> Optional[str]:
    try:
        validate_version(value)
    except VersionError as exc:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return "%s; quote it, as YAML reads 1.10 as the number 1.1" % exc
        return str(exc)
    return None


def _batch(value: Any) -> Optional[str]:
    try:
        batch_size(1, value)
    except PlanError as exc:
        return str(exc)
    return None


def _min_healthy(value: Any) -> Optional[str]:
    try:
        minimum_serving(value, 1, 0)
    except ServingError as exc:
        return str(exc)
    return None


_PAGE_PATH = re.compile(r"/(?!/)[\x21-\x7e]*")


def _verify_paths(value: Any) -> Optional[str]:
    """Each path is joined to the health URL's scheme, host and port: one that could name another host
    (``//evil``, no leading ``/``) or break the request line (spaces, control characters) is refused."""
    bad = [path for path in (value if isinstance(value, list) else [value])
           if not isinstance(path, str) or not _PAGE_PATH.fullmatch(path) or "\\" in path]
    if bad:
        return "%s: expected paths that start with one / and hold printable characters without spaces, such as /cart" % (
            ", ".join(json.dumps(path) if isinstance(path, str) else repr(path) for path in bad))
    return None


def _canary_steps(value: Any) -> Optional[str]:
    try:
        check_steps(value)
    except TrafficError as exc:
        return str(exc)
    return None


def _http_url(value: Any) -> Optional[str]:
    if isinstance(value, str) and _URL.match(value):
        return None
    return "expected an http:// or https:// URL"


def _artifact(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return "expected a controller path or an http(s) URL of a .tar.gz, .tgz or .zip archive"
    if "://" in value and not _URL.match(value):
        return "expected a controller path or an http:// or https:// URL"
    return None


def _checksum(value: Any) -> Optional[str]:
    """The digest forms are parsed here; a SUMS file (URL or path) is read by the precheck."""
    if not isinstance(value, str) or not value.strip():
        return None
    spec = value.strip()
    if _URL.match(spec) or "/" in spec or spec.upper().endswith("SUMS"):
        return None
    try:
        parse_checksum(spec)
    except ChecksumError as exc:
        return str(exc)
    return None


def _in_range(low: float, high: Optional[float] = None, above: bool = False) -> Callable[[Any], Optional[str]]:
    """A check that a number is at least ``low`` (above it, with ``above``) and at most ``high``."""
    expected = "a number %s %g%s" % ("above" if above else "of at least", low, " and at most %g" % high if high is not None else "")

    def check(value: Any) -> Optional[str]:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None  # the argument spec names a value that is not a number
        if math.isnan(number) or (number <= low if above else number < low) or (high is not None and number > high):
            return "expected %s" % expected
        return None
    return check


# variables whose numbers the run uses as counts, sizes, percentages or waits
RANGES = {
    "deploy_keep_releases": _in_range(0), "deploy_strip_components": _in_range(0),
    "deploy_max_unpacked_size": _in_range(1), "deploy_max_archive_members": _in_range(1),
    "deploy_verify_samples": _in_range(1), "deploy_canary_count": _in_range(1), "deploy_canary_min_requests": _in_range(0),
    "deploy_verify_interval": _in_range(0), "deploy_max_latency_ms": _in_range(0),
    "deploy_latency_percentile": _in_range(0, 100, above=True),
    "deploy_max_error_rate": _in_range(0, 1), "deploy_canary_max_error_rate_increase": _in_range(0, 1),
    "deploy_canary_max_latency_ratio": _in_range(1), "deploy_canary_latency_floor_ms": _in_range(0),
    "deploy_min_disk_free_percent": _in_range(0, 100), "deploy_max_cpu_percent": _in_range(0, 100),
    "deploy_max_memory_percent": _in_range(0, 100), "deploy_cpu_sample_seconds": _in_range(0, 60, above=True),
    "deploy_health_timeout": _in_range(0, above=True), "deploy_drain_timeout": _in_range(0, above=True),
    "deploy_up_timeout": _in_range(0, above=True), "deploy_service_start_timeout": _in_range(0, above=True),
    "deploy_precheck_timeout": _in_range(0, above=True), "deploy_canary_interval": _in_range(0, above=True),
    "deploy_canary_gate_timeout": _in_range(0, above=True), "deploy_notify_timeout": _in_range(0, above=True),
}

# variable -> check of its value
VALUE_CHECKS: Dict[str, Callable[[Any], Optional[str]]] = {
    "deploy_version": _version,
    "deploy_batch": _batch,
    "deploy_min_healthy": _min_healthy,
    "deploy_verify_paths": _verify_paths,
    "deploy_canary_steps": _canary_steps,
    "deploy_health_url": _http_url,
    "deploy_artifact": _artifact,
    "deploy_checksum": _checksum,
    "deploy_notify_url": lambda value: _http_url(value) if value else None,  # empty: no webhook
    **RANGES,
}


def check_values(values: Mapping[str, Any], secrets: Iterable[str] = ()) -> List[str]:
    """Why each value in ``values`` that has a check cannot be used, one text per variable."""
    hidden = set(secrets)
    problems = []
    for name in sorted(values):
        check = VALUE_CHECKS.get(name)
        problem = check(values[name]) if check else None
        if problem:
            problems.append("%s %s: %s" % (name, shown(values[name], name in hidden), problem))
    if "deploy_checksum" in values and not str(values.get("deploy_checksum") or "").strip() \
            and not boolean(values.get("deploy_allow_unverified", False), strict=False):
        problems.append("deploy_checksum is empty: expected sha256:<hex>, sha512:<hex> or the URL or path of a "
                        "SHA256SUMS file, or deploy_allow_unverified=true to deploy %s unverified"
                        % shown(values.get("deploy_artifact")))
    return problems


def check_colours(blue_group: str, green_group: str, play_hosts: Iterable[str],
                  groups: Mapping[str, Iterable[str]]) -> List[str]:
    """Blue-green needs two disjoint groups, each with hosts of the play."""
    hosts = list(play_hosts)
    members = {colour: [host for host in hosts if host in set(groups.get(name) or ())]
               for colour, name in (("blue", blue_group), ("green", green_group))}
    problems = []
    for colour, name, option in (("blue", blue_group, "deploy_blue_group"), ("green", green_group, "deploy_green_group")):
        if not members[colour]:
            where = "no such group in the inventory" if name not in groups else "none of its hosts is in this play"
            problems.append("%s %s: %s; blue-green needs hosts of the play in groups %s and %s"
                            % (option, shown(name), where, blue_group, green_group))
    both = sorted(set(members["blue"]) & set(members["green"]))
    if both:
        problems.append("deploy_blue_group %s and deploy_green_group %s share %s: expected two disjoint groups"
                        % (shown(blue_group), shown(green_group), ", ".join(both)))
    return problems


def check_lb_hosts(lb_hosts: Sequence[str], provider: str, inventory_hosts: Iterable[str]) -> List[str]:
    """The LB hosts must be hosts of the inventory (or the controller, localhost), at least one where there is an LB."""
    if provider == "none":
        return []
    if not lb_hosts:
        return ["deploy_lb_hosts is empty: expected the inventory hosts of the load balancer (group lb by default), "
                "or deploy_lb_provider=none"]
    known = set(inventory_hosts) | {"localhost"}
    unknown = [host for host in lb_hosts if host not in known]
    if unknown:
        return ["deploy_lb_hosts %s: %s %s not in the inventory; expected inventory hosts of the load balancer"
                % (shown(list(lb_hosts)), ", ".join(unknown), "is" if len(unknown) == 1 else "are")]
    return []


HOOK_PHASES = ("after_stage", "once_before_switch", "before_switch", "after_switch", "after_verify", "once_after",
               "on_rollback")


def resolve_hooks(hooks: Any, base: str) -> Tuple[Dict[str, List[str]], List[str]]:
    """deploy_hooks with each file's absolute path (relative ones from ``base``), and what is wrong with it:
    a phase that is not one of HOOK_PHASES, a list that is not a list of paths, a file that is not there."""
    if hooks is None or hooks == {}:
        return {}, []
    if not isinstance(hooks, Mapping):
        return {}, ["deploy_hooks %s: expected a mapping of phase to a list of task files" % shown(hooks)]
    resolved: Dict[str, List[str]] = {}
    problems = []
    for phase, files in hooks.items():
        if phase not in HOOK_PHASES:
            problems.append("deploy_hooks: %s is not a phase; expected one of %s" % (shown(phase), ", ".join(HOOK_PHASES)))
            continue
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not all(isinstance(path, str) and path for path in files):
            problems.append("deploy_hooks.%s %s: expected a list of task file paths" % (phase, shown(files)))
            continue
        resolved[phase] = [os.path.realpath(os.path.join(base, os.path.expanduser(path))) for path in files]
        for path, found in zip(files, resolved[phase]):
            if not os.path.isfile(found):
                problems.append("deploy_hooks.%s: task file %s not found (looked for %s)" % (phase, shown(path), found))
    return ({phase: files for phase, files in resolved.items() if files} if not problems else {}), problems


def undefined_name(text: str) -> Optional[str]:
    """The variable an "is undefined" error names: ``'deploy_port' is undefined`` -> deploy_port."""
    match = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined", text)
    return match.group(1) if match else None
