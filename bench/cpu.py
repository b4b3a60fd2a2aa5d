"""Where a target's CPU time goes: every process of the run, read from ``/proc`` around each phase.

On two cores the dashboard, Local Arthur, PostgreSQL, Redis, the agents and the load generator all
take their cycles from the same pool, so a page's throughput is bounded by the sum of what each of
them spends on it. Measuring that sum per request, split by process group, says which part of the
stack a missed budget is made of (the profiles then say where inside it).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Server processes that are not ours but serve the run (PostgreSQL's backends, Redis).
SHARED_SERVERS = {"postgres": "postgres", "redis-server": "redis"}
GROUPS = ("dashboard", "arthur", "postgres", "redis", "agents", "load", "other")


def available() -> bool:
    """Whether this machine exposes per-process CPU times (Linux)."""
    return (PROC / "self" / "stat").exists()


def _stat(pid: str) -> tuple[int, str, int] | None:
    """``(ppid, command name, utime + stime in ticks)`` of a process, or None when it has gone."""
    try:
        raw = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: the fields resume after the last ')'.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), name, int(fields[11]) + int(fields[12])


def snapshot(roots: dict[str, list[int]]) -> Counter[str]:
    """CPU seconds used so far by each group: ``roots`` maps a group to the pids whose whole process
    trees belong to it; PostgreSQL and Redis are found by name; what else descends from this process
    (the load generator's clients) is ``load``. Cumulative per live process, so take one before and
    one after a phase and subtract (processes must live through the phase: worker recycling is off)."""
    table = {pid: stat for pid in os.listdir(PROC) if pid.isdigit() and (stat := _stat(pid))}
    owner: dict[str, str] = {str(pid): group for group, pids in roots.items() for pid in pids}
    me = str(os.getpid())

    def group_of(pid: str) -> str:
        seen = pid
        while seen in table:
            if seen in owner:
                return owner[seen]
            if seen == me:
                return "load"
            seen = str(table[seen][0])
        return SHARED_SERVERS.get(table[pid][1], "other")

    used: Counter[str] = Counter()
    for pid, (_, _, ticks) in table.items():
        if pid != me:
            used[group_of(pid)] += ticks / TICKS_PER_SECOND
    return used


def per_request(before: Counter[str], after: Counter[str], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request by group (and ``total``), between two snapshots. A process
    that ended between them is not counted (nothing ends during a phase)."""
    if requests <= 0:
        return {}
    spent = {group: max(0.0, after[group] - before[group]) * 1000 / requests for group in GROUPS}
    # ``other`` is the rest of the machine (another session's work, say): shown, not in the total.
    spent["total"] = sum(ms for group, ms in spent.items() if group != "other")
    return {group: round(ms, 2) for group, ms in spent.items()}
