# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module run for a task that several hosts run together (the hosts of a batch): the first host sends it,
the others wait for its result in their own worker processes and take it as theirs.

The sender says it started (a claim holding its process id), then publishes the result. Both pass through files in
the controller's private temporary directory of this ansible-playbook process (Ansible's local tmp: mode 0700,
removed when the process ends), named by a digest of the task, the hosts and the delegated host, written whole and
renamed into place, so a reader never sees half of one. A waiter waits as long as the sender's process lives: the
sender's own timeouts bound it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from typing import Any, Callable, Dict, Optional, Sequence

POLL_SECONDS = 0.05
# how long a waiter gives the sender to start: the linear strategy starts it first, with the waiters
START_SECONDS = 60.0


class SharedRunLost(Exception):
    """The sender's result will not come: it never started, or its process ended without one."""


def process_alive(pid: int, proc: str = "/proc") -> bool:
    """Whether process ``pid`` still runs: a worker that died is a zombie until Ansible reaps it, and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(os.path.join(proc, str(pid), "stat"), encoding="ascii", errors="replace") as handle:
            # the command name may hold spaces and parentheses: the state follows the last ')'
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


class SharedRun:
    """The run of one task by ``senders``, as ``host`` sees it."""

    def __init__(self, directory: str, key: Sequence[Any], senders: Sequence[str], host: str) -> None:
        self.senders, self.host = list(senders), host
        digest = hashlib.sha256(json.dumps([list(key), self.senders], sort_keys=True, default=str).encode()).hexdigest()
        self.path = os.path.join(directory, "lastmile-shared-run-%s.json" % digest)
        self.claim_path = os.path.join(directory, "lastmile-shared-run-%s.claim" % digest)

    @property
    def sends(self) -> bool:
        """Whether this host sends the task: the first of the senders."""
        return bool(self.senders) and self.senders[0] == self.host

    def send(self, run: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        """``run()``'s result, published for the other senders; an error is published as a failed result too,
        so that nobody waits for a result that will not come."""
        self._write(self.claim_path, {"pid": os.getpid()})
        result: Dict[str, Any] = dict(failed=True, msg="the task sent for %s stopped without a result"
                                      % ", ".join(self.senders))
        try:
            result = run()
        except Exception as exc:  # pylint: disable=broad-except
            result = dict(failed=True, msg="the task sent for %s failed: %s: %s"
                          % (", ".join(self.senders), type(exc).__name__, exc))
            raise
        finally:
            try:
                self._write(self.path, result)
            except (OSError, TypeError, ValueError) as exc:
                # a result that cannot be written still ends the others' wait, as a failure
                self._write(self.path, dict(failed=True, msg="the result of the task sent for %s could not be shared: %s"
                                            % (", ".join(self.senders), exc)))
        return result

    @staticmethod
    def _write(path: str, content: Dict[str, Any]) -> None:
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".partial-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(content, stream, default=str)
            os.replace(partial, path)
        except BaseException:
            os.unlink(partial)
            raise

    @staticmethod
    def _read(path: str) -> Optional[Dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as stream:
                return json.load(stream)
        except FileNotFoundError:
            return None

    def wait(self, start_seconds: float = START_SECONDS, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, alive: Callable[[int], bool] = process_alive) -> Dict[str, Any]:
        """The sender's result; raises SharedRunLost when the sender did not start within ``start_seconds``, or its
        process ended without a result."""
        started_by = clock() + start_seconds
        while True:
            result = self._read(self.path)
            if result is not None:
                return result
            claim = self._read(self.claim_path)
            if claim is None and clock() >= started_by:
                raise SharedRunLost("%s sends this task for %s, and did not start it within %gs"
                                    % (self.senders[0], ", ".join(self.senders), start_seconds))
            pid = claim.get("pid") if claim is not None else None
            if claim is not None and not (isinstance(pid, int) and pid > 0 and alive(pid)):
                result = self._read(self.path)
                if result is not None:
                    return result
                raise SharedRunLost("%s sends this task for %s, and its process %s ended without a result"
                                    % (self.senders[0], ", ".join(self.senders), pid))
            sleep(POLL_SECONDS)
