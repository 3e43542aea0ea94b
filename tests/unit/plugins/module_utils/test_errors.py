# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error hierarchy: every domain error is a LastmileError, and one mapping makes it a failed result."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from ansible_collections.lastmile.deploy.plugins import module_utils
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import CommandsSent
from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import PlanError
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError


def module_utils_modules():
    for info in pkgutil.walk_packages(list(module_utils.__path__), prefix=module_utils.__name__ + "."):
        yield importlib.import_module(info.name)


def public_exceptions():
    """Every exception class a module_utils module defines and does not mark private."""
    found = {}
    for module in module_utils_modules():
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
                    and not name.startswith("_")):
                found["%s.%s" % (module.__name__, name)] = value
    return found


def test_every_domain_error_of_module_utils_is_a_lastmile_error():
    exceptions = public_exceptions()
    assert len(exceptions) >= 25, sorted(exceptions)
    outside = sorted(name for name, cls in exceptions.items() if not issubclass(cls, LastmileError))
    assert outside == []


@pytest.mark.parametrize("name", ["StrategyError", "PlanError", "TrafficError", "VersionError", "CommandLineError"])
def test_errors_callers_catch_as_value_error_still_are_value_errors(name):
    matches = [cls for key, cls in public_exceptions().items() if key.endswith("." + name)]
    assert len(matches) == 1 and issubclass(matches[0], ValueError)


def test_a_failure_carries_msg_failed_and_the_result_keys_of_the_error():
    exc = ReleaseError("release '1.0' is gone", result=dict(changed=True, current="2.0"))
    assert failure(exc) == dict(failed=True, msg="release '1.0' is gone", changed=True, current="2.0")
    assert exc.changed and str(exc) == "release '1.0' is gone"
    assert failure(PlanError("batch size 0")) == dict(failed=True, msg="batch size 0")
    assert not PlanError("batch size 0").changed


def test_what_a_caller_adds_does_not_override_what_the_error_carries():
    exc = CommandsSent("HAProxy refused", ["set server app/web1 weight 3"], applied=True)
    raised = exc.with_result(changed=False, commands=[], path="/run/haproxy.sock")
    assert raised is exc
    assert failure(exc) == dict(failed=True, msg="HAProxy refused", changed=True, commands=["set server app/web1 weight 3"],
                                path="/run/haproxy.sock")
