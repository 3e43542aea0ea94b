# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions over HAProxy runtime output: parsing, state decoding, change planning."""

from __future__ import annotations

import csv
import dataclasses
import re

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import HAProxyError

ADMIN_STATES = ("ready", "drain", "maint")
MIN_WEIGHT = 0
MAX_WEIGHT = 256

# srv_admin_state bits (HAProxy include/haproxy/server-t.h).
FMAINT = 0x01  # forced into maintenance (CLI, stats page, 'disabled' keyword)
IMAINT = 0x02  # maintenance inherited from a tracked server
CMAINT = 0x04  # 'disabled' in the configuration; a memo, the maintenance itself is FMAINT
FDRAIN = 0x08  # forced into drain
IDRAIN = 0x10  # drain inherited from a tracked server
RMAINT = 0x20  # maintenance because the address could not be resolved
HMAINT = 0x40  # FQDN set from the CLI; a memo, not a maintenance state
# HAProxy's own masks: CMAINT and HMAINT alone leave a server in service.
MAINT_MASK = FMAINT | IMAINT | RMAINT
DRAIN_MASK = FDRAIN | IDRAIN

# srv_op_state values.
OP_STOPPED, OP_STARTING, OP_RUNNING, OP_STOPPING = 0, 1, 2, 3

_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclasses.dataclass
class Server:
    """One server of one backend as HAProxy reports it."""

    backend: str
    name: str
    address: str
    port: int
    admin: str
    status: str
    up: bool
    weight: int
    initial_weight: int
    sessions: int = 0
    queued: int = 0
    total_sessions: int = 0
    responses_2xx: int = 0
    responses_5xx: int = 0
    requests_total: int = 0
    response_time_ms: int = 0
    total_time_ms: int = 0
    check_status: str = ""

    @property
    def healthy(self) -> bool:
        """Up with no failing check: 'UP 1/3' (checks failing, or just out of maintenance) is not."""
        if self.status:
            return self.status.strip().upper() in ("UP", "DRAIN", "DRAIN (AGENT)", "NO CHECK")
        return self.up

    @property
    def down(self) -> bool:
        """True when health checks (or their absence) say nothing can be served."""
        if self.status:
            return self.status.upper().startswith("DOWN")
        return not self.up and self.admin != "maint"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def validate_name(value: str, what: str) -> str:
    """Return `value` when it is a valid HAProxy backend/server name."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise HAProxyError(
            "%s name %r is not a valid HAProxy name; expected letters, digits, '.', ':', '_' or '-'"
            % (what, value)
        )
    return value


def decode_admin(flags: int) -> str:
    """Map srv_admin_state bits to 'ready', 'drain' or 'maint'."""
    if flags & MAINT_MASK:
        return "maint"
    if flags & DRAIN_MASK:
        return "drain"
    return "ready"


def is_up(op_state: int, status: str) -> bool:
    """Whether health checks consider the server able to serve.

    The stat `status` wins when present ('UP', 'UP 1/3', 'DRAIN', 'no check' are up;
    'DOWN', 'DOWN 1/2', 'NOLB', 'MAINT' are not); otherwise the op state decides.
    """
    if status:
        text = status.strip().upper()
        return text.startswith(("UP", "DRAIN")) or text == "NO CHECK"
    return op_state in (OP_STARTING, OP_RUNNING)


# Fields of a `show servers state` row the state is read from; a row where they are not numbers is damaged.
_STATE_NUMBERS = ("srv_op_state", "srv_admin_state", "srv_uweight", "srv_iweight", "srv_port")


def parse_servers_state(text: str) -> list:
    """Parse `show servers state` into one dict per server, keyed by header names."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or not lines[0].strip().isdigit():
        raise HAProxyError("unexpected reply to 'show servers state': %r" % text[:200])
    header = None
    rows = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line.lstrip("#").split()
            continue
        if header is None:
            raise HAProxyError("'show servers state' reply has no '#' header line: %r" % text[:200])
        values = line.split()
        if len(values) < len(header):
            raise HAProxyError("'show servers state' row has %d fields, the header %d: %r"
                               % (len(values), len(header), line))
        row = dict(zip(header, values))
        bad = [name for name in _STATE_NUMBERS if name in row and not row[name].isdigit()]
        if bad:
            raise HAProxyError("'show servers state' row has %s that is not a number: %r" % (", ".join(bad), line))
        rows.append(row)
    return rows


def parse_stat(text: str) -> list:
    """Parse `show stat` CSV into one dict per line, keyed by header names."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise HAProxyError("unexpected reply to 'show stat': %r" % text[:200])
    header = lines[0][2:].split(",")
    rows = []
    try:
        for line, values in zip(lines[1:], csv.reader(lines[1:])):
            if len(values) < len(header):
                raise HAProxyError("'show stat' row has %d fields, the header %d: %r" % (len(values), len(header), line))
            rows.append(dict(zip(header, values)))
    except csv.Error as exc:
        # a stray carriage return or quote: not CSV that HAProxy writes
        raise HAProxyError("unexpected reply to 'show stat': %s: %r" % (exc, text[:200])) from exc
    return rows


def stat_backends(stat_rows: list) -> list:
    """Names of the proxies that have a backend side, in HAProxy's order."""
    return [row.get("pxname", "") for row in stat_rows if row.get("svname") == "BACKEND"]


def merge_servers(state_rows: list, stat_rows: list) -> dict:
    """Build {backend: {server: Server}} from parsed servers state and stat rows."""
    stats = {(row.get("pxname"), row.get("svname")): row for row in stat_rows}
    result = {}
    for row in state_rows:
        backend, name = row.get("be_name", ""), row.get("srv_name", "")
        stat = stats.get((backend, name), {})
        status = stat.get("status", "")
        server = Server(
            backend=backend,
            name=name,
            address=row.get("srv_addr", ""),
            port=_int(row.get("srv_port")),
            admin=decode_admin(_int(row.get("srv_admin_state"))),
            status=status,
            up=is_up(_int(row.get("srv_op_state")), status),
            weight=_int(row.get("srv_uweight")),
            initial_weight=_int(row.get("srv_iweight")),
            sessions=_int(stat.get("scur")),
            queued=_int(stat.get("qcur")),
            total_sessions=_int(stat.get("stot")),
            responses_2xx=_int(stat.get("hrsp_2xx")),
            responses_5xx=_int(stat.get("hrsp_5xx")),
            requests_total=_int(stat.get("req_tot")),
            response_time_ms=_int(stat.get("rtime")),
            total_time_ms=_int(stat.get("ttime")),
            check_status=stat.get("check_status", ""),
        )
        result.setdefault(backend, {})[name] = server
    return result


def require_servers(backend: str, servers: dict, names) -> None:
    """Raise naming the unknown servers, the backend and the known servers."""
    unknown = [name for name in names if name not in servers]
    if unknown:
        raise HAProxyError(
            "server %s not found in backend '%s'; known servers: %s"
            % (", ".join("'%s'" % name for name in unknown), backend, ", ".join(sorted(servers)) or "none")
        )


def validate_change(name: str, change: dict) -> tuple:
    """Return (admin, weight) from one change spec; either may be None."""
    if not isinstance(change, dict):
        raise HAProxyError("change for server '%s' is %r; expected a dict with admin and/or weight" % (name, change))
    extra = sorted(set(change) - {"admin", "weight"})
    if extra:
        raise HAProxyError("change for server '%s' has unknown keys %s; expected admin, weight" % (name, extra))
    admin, weight = change.get("admin"), change.get("weight")
    if admin is not None and admin not in ADMIN_STATES:
        raise HAProxyError("admin state %r for server '%s' is not one of %s" % (admin, name, ", ".join(ADMIN_STATES)))
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, int) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise HAProxyError(
                "weight %r for server '%s' is not an integer in %d..%d" % (weight, name, MIN_WEIGHT, MAX_WEIGHT)
            )
    return admin, weight


def plan_commands(backend: str, current: dict, changes: dict) -> list:
    """Runtime commands that bring `current` servers to `changes`, only where they differ.

    Going to ready with a new weight sets the weight first, so the server never
    takes traffic at its old weight; leaving ready changes the state first.
    """
    validate_name(backend, "backend")
    for name in changes:
        validate_name(name, "server")
    require_servers(backend, current, changes)
    commands = []
    for name, change in changes.items():
        admin, weight = validate_change(name, change)
        server = current[name]
        prefix = "set server %s/%s" % (backend, name)
        state_cmd = [] if admin is None or admin == server.admin else ["%s state %s" % (prefix, admin)]
        weight_cmd = [] if weight is None or weight == server.weight else ["%s weight %d" % (prefix, weight)]
        commands.extend(weight_cmd + state_cmd if admin == "ready" else state_cmd + weight_cmd)
    return commands


def preview(current: dict, changes: dict) -> dict:
    """The servers as they would be after `changes` (admin and weight only)."""
    result = dict(current)
    for name, change in changes.items():
        admin, weight = validate_change(name, change)
        server = current[name]
        result[name] = dataclasses.replace(
            server,
            admin=server.admin if admin is None else admin,
            weight=server.weight if weight is None else weight,
        )
    return result


def unmet_changes(servers: dict, changes: dict) -> list:
    """Describe each change HAProxy did not take (e.g. maintenance inherited from a tracked server)."""
    problems = []
    for name, change in changes.items():
        admin, weight = validate_change(name, change)
        server = servers.get(name)
        if server is None:
            problems.append("server '%s' disappeared from the backend" % name)
            continue
        if admin is not None and server.admin != admin:
            problems.append("server '%s' is %s, not %s" % (name, server.admin, admin))
        if weight is not None and server.weight != weight:
            problems.append("server '%s' has weight %d, not %d" % (name, server.weight, weight))
    return problems


def admin_and_weight(servers: dict, names) -> dict:
    """{name: {'admin': ..., 'weight': ...}} for `names`, for diffs and summaries."""
    return {name: {"admin": servers[name].admin, "weight": servers[name].weight} for name in names if name in servers}


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
