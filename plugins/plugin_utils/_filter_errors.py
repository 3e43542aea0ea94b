# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a filter raises when the core refuses its input: AnsibleFilterError with the core's message."""

from __future__ import annotations

import functools
from typing import Any, Callable

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError


def filter_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that a LastmileError from the core reaches Ansible as AnsibleFilterError."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except LastmileError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    return wrapper
