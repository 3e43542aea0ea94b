# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module run for a task that several hosts run together (the hosts of a batch): the first host sends it,
the others wait for its result in their own worker processes and take it as theirs.

The result passes through a file in the controller's private temporary directory of this ansible-playbook
process (Ansible's local tmp: mode 0700, removed when the process ends), named by a digest of the task, the hosts
and the delegated host, written whole and renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from typing import Any, Callable, Dict, Optional, Sequence

POLL_SECONDS = 0.05


class SharedRun:
    """The run of one task by ``senders``, as ``host`` sees it."""

    def __init__(self, directory: str, key: Sequence[Any], senders: Sequence[str], host: str) -> None:
        self.senders, self.host = list(senders), host
        digest = hashlib.sha256(json.dumps([list(key), self.senders], sort_keys=True, default=str).encode()).hexdigest()
        self.path = os.path.join(directory, "lastmile-shared-run-%s.json" % digest)

    @property
    def sends(self) -> bool:
        """Whether this host sends the task: the first of the senders."""
        return bool(self.senders) and self.senders[0] == self.host

    def send(self, run: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        """``run()``'s result, published for the other senders; an error is published as a failed result too,
        so that nobody waits for a result that will not come."""
        result: Dict[str, Any] = dict(failed=True, msg="the task sent for %s stopped without a result"
                                      % ", ".join(self.senders))
        try:
            result = run()
        except Exception as exc:  # pylint: disable=broad-except
            result = dict(failed=True, msg="the task sent for %s failed: %s: %s"
                          % (", ".join(self.senders), type(exc).__name__, exc))
            raise
        finally:
            self._publish(result)
        return result

    def _publish(self, result: Dict[str, Any]) -> None:
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".partial-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(result, stream, default=str)
            os.replace(partial, self.path)
        except BaseException:
            os.unlink(partial)
            raise

    def wait(self, timeout: float, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> Optional[Dict[str, Any]]:
        """The sender's result, or None when it did not come within ``timeout`` seconds."""
        deadline = clock() + timeout
        while True:
            try:
                with open(self.path, encoding="utf-8") as stream:
                    return json.load(stream)
            except FileNotFoundError:
                pass
            if clock() >= deadline:
                return None
            sleep(POLL_SECONDS)
