# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error hierarchy for the collection, and the one mapping from an error to a failed task result.

Core functions raise a LastmileError (a subclass naming the domain); modules call
``module.fail_json(**failure(exc))`` and action plugins return ``failure(exc)``, once, in one place.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = ["LastmileError", "failure"]


class LastmileError(Exception):
    """A task cannot do what it was asked: the message says why (naming the offending value, never a
    secret); ``result`` holds the keys the failed task's result carries as well, such as ``changed``
    when something was changed before the failure or the ``commands`` already sent."""

    def __init__(self, msg: str = "", result: Optional[Dict[str, Any]] = None):
        super().__init__(msg)
        self.result: Dict[str, Any] = dict(result or {})

    def with_result(self, **keys: Any) -> "LastmileError":
        """Carry ``keys`` in the failed result too (keys the error already carries win); returns the
        error itself, for ``raise exc.with_result(...)`` where a caller knows more than the raiser."""
        self.result = dict(keys, **self.result)
        return self

    @property
    def changed(self) -> bool:
        """True when something was changed before the failure."""
        return bool(self.result.get("changed"))


def failure(exc: LastmileError) -> Dict[str, Any]:
    """The failed task result for ``exc``: its ``result`` keys, ``failed=True`` and ``msg``."""
    return dict(exc.result, failed=True, msg=str(exc))
