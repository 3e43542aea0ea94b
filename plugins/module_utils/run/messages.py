# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages about many hosts, each said once with the hosts it is about."""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

SHOWN_HOSTS = 8


def hosts_text(hosts: Sequence[str], every: int = 0) -> str:
    """``web1, web2`` or ``web1, web2, ... and 62 more``; ``every host (64)`` when all ``every`` are meant."""
    hosts = list(hosts)
    if every and len(hosts) == every and every > 2:
        return "every host (%d)" % every
    if len(hosts) <= SHOWN_HOSTS:
        return ", ".join(hosts)
    return "%s and %d more" % (", ".join(hosts[:SHOWN_HOSTS]), len(hosts) - SHOWN_HOSTS)


def group_by_message(messages: Dict[str, Iterable[str]], order: Sequence[str] = ()) -> List[str]:
    """``{host: [message, ...]}`` -> ``["web1, web2: message; other message", ...]``.

    Each message is said once, after the hosts it is about; messages about the same hosts share
    one line. Lines come in the order their first message was seen, hosts in ``order``.
    """
    hosts = list(order) or sorted(messages)
    hosts += [host for host in messages if host not in hosts]
    about: Dict[str, List[str]] = {}
    for host in hosts:
        for message in messages.get(host) or ():
            named = about.setdefault(str(message), [])
            if host not in named:
                named.append(host)
    lines: Dict[tuple, List[str]] = {}
    for message, named in about.items():
        lines.setdefault(tuple(named), []).append(message)
    return ["%s: %s" % (hosts_text(named, len(hosts)), "; ".join(said)) for named, said in lines.items()]
