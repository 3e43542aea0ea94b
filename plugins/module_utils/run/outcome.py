# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run ended as, judged from what the hosts say at its end, not from what each task said.

- ``succeeded``: nothing failed and every host ends on one known release (per group, for
  blue-green: each colour on one release); every host the run switched recorded as succeeded
  (or, for an idle colour, as rolled back) - not pending, failed or unrecorded.
- ``rolled_back``: something failed and every host is back on the release it had before the run,
  with no problem while putting it back.
- ``failed``: anything else - a failure before any change (nothing to put back), a restore that
  had problems, a host that cannot be read, hosts left on different releases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

SUCCEEDED, ROLLED_BACK, FAILED = "succeeded", "rolled_back", "failed"
# history statuses a host may end a run on
SETTLED = (SUCCEEDED, ROLLED_BACK)


@dataclass
class HostEnd:
    """What one host says at the end of the run."""

    release: Optional[str]  # what current points at; None: no release, or the host could not be read
    status: Optional[str] = None  # the history status of that release
    readable: bool = True  # False: unreachable, or its state could not be read
    before: Optional[str] = None  # the release it had before the run
    failure: str = ""  # why this host's step failed, if it did
    restore_failure: str = ""  # why putting this host back failed, if it did
    switched: bool = True  # whether this run switched the host's release (only then is its record this run's)

    def text(self) -> str:
        if not self.readable:
            return "unknown (could not be read)"
        if self.release is None:
            return "no release"
        return "%s (%s)" % (self.release, self.status or "not recorded")


@dataclass
class Outcome:
    outcome: str
    releases: Dict[str, str]
    problems: List[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "releases": dict(self.releases), "problems": list(self.problems)}


def judge(hosts: Mapping[str, HostEnd], failed: bool, restored: bool = False,
          groups: Optional[Mapping[str, Sequence[str]]] = None) -> Outcome:
    """The outcome of a run over ``hosts``.

    ``failed``: a step failed or a host dropped out; ``restored``: the run then put back what it
    had changed (its restore ran). ``groups`` (for blue-green, the colours) are judged one by one:
    each ends on one release.
    """
    releases = {name: end.text() for name, end in hosts.items()}
    problems = _release_problems(hosts, groups)
    restore_problems = ["%s: %s" % (name, end.restore_failure) for name, end in hosts.items() if end.restore_failure]
    if not failed:
        return Outcome(FAILED if problems else SUCCEEDED, releases, problems)
    if not restored:
        return Outcome(FAILED, releases, [])
    not_back = ["%s is on %s, not back on %s" % (name, end.text(), end.before or "no release")
                for name, end in hosts.items() if end.readable and end.release != end.before]
    unread = ["%s could not be read" % name for name, end in hosts.items() if not end.readable]
    problems = restore_problems + not_back + unread
    return Outcome(FAILED if problems else ROLLED_BACK, releases, problems)


def _release_problems(hosts: Mapping[str, HostEnd], groups: Optional[Mapping[str, Sequence[str]]]) -> List[str]:
    """Why the hosts do not end on one known release (per group), empty when they do."""
    problems = []
    for label, members in (groups or {"": list(hosts)}).items():
        ends = {name: hosts[name] for name in members if name in hosts}
        unread = sorted(name for name, end in ends.items() if not end.readable)
        if unread:
            problems.append("%s could not be read" % ", ".join(unread))
        found = {end.release for end in ends.values() if end.readable}
        if len(found) > 1:
            problems.append("the hosts%s are on different releases: %s" % (
                " in %s" % label if label else "", ", ".join(sorted(str(release) for release in found))))
        # pending: switched and never verified; failed, or no record at all: not a release a switched host may end
        # on. (An idle blue-green colour may end on a release recorded rolled_back; a host the run did not switch
        # keeps whatever record it had, perhaps none, when it was put in place by hand.)
        unsettled = sorted(name for name, end in ends.items()
                           if end.readable and end.switched and end.release is not None and end.status not in SETTLED)
        if unsettled and len(found) <= 1:
            problems.append("not on a verified release: %s" % ", ".join(
                "%s %s" % (name, ends[name].text()) for name in unsettled))
    return problems
