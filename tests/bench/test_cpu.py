"""The bench's CPU accounting: whose process spent the cycles of a phase."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench import cpu
from bench.run import render_table
from bench.stats import BUDGETS

pytestmark = pytest.mark.skipif(not cpu.available(), reason="per-process CPU times come from Linux's /proc")

# Burns CPU when told to, says so, then stays alive until its stdin closes (a process that has ended
# leaves /proc, and the accounting reads live processes, as the bench's servers are during a phase).
BURN = (
    "import sys, time\nsys.stdin.readline()\nend = time.process_time() + {seconds}\n"
    "while time.process_time() < end: pass\nprint('burnt', flush=True)\nsys.stdin.read()\n"
)


def _burner(seconds: float) -> subprocess.Popen:
    command = [sys.executable, "-c", BURN.format(seconds=seconds)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603


def test_a_process_tree_named_as_a_group_is_charged_to_it_and_other_children_to_the_load() -> None:
    dashboard, load = _burner(0.6), _burner(0.3)
    try:
        time.sleep(0.3)  # the interpreters' own start-up is not part of the phase
        before = cpu.snapshot({"dashboard": [dashboard.pid]})
        for process in (dashboard, load):
            process.stdin.write("go\n"), process.stdin.flush()
        assert dashboard.stdout.readline() == load.stdout.readline() == "burnt\n"
        spent = cpu.per_request(before, cpu.snapshot({"dashboard": [dashboard.pid]}), requests=1)
    finally:
        for process in (dashboard, load):
            process.stdin.close(), process.wait()
    assert 550 <= spent["dashboard"] <= 800 and 250 <= spent["load"] <= 500
    assert spent["total"] == pytest.approx(sum(v for k, v in spent.items() if k not in {"total", "other"}), abs=0.1)


def test_cpu_per_request_divides_by_the_requests_and_ignores_a_group_that_went_backwards() -> None:
    before = cpu.Counter({"dashboard": 2.0, "arthur": 1.0, "other": 5.0})
    after = cpu.Counter({"dashboard": 3.0, "arthur": 0.5, "postgres": 0.5, "other": 9.0})
    spent = cpu.per_request(before, after, requests=100)
    assert (spent["dashboard"], spent["arthur"], spent["postgres"], spent["other"]) == (10.0, 0.0, 5.0, 40.0)
    assert spent["total"] == 15.0  # the rest of the machine is shown, not counted
    assert cpu.per_request(before, after, requests=0) == {}


def test_the_table_says_what_a_request_costs_and_the_throughput_that_allows() -> None:
    row = {"clients": 8, "requests": 100, "bad": 0, "rps": 50.0, "ratio": 0.5, "p50_ms": 10.0, "p95_ms": 20.0,
           "p99_ms": 30.0, "cpu_ms": {"dashboard": 20.0, "arthur": 15.0, "postgres": 3.0, "redis": 0.5,
                                      "agents": 0.5, "load": 1.0, "other": 2.0, "total": 40.0}}
    results = {
        "meta": {"cpus": 2},
        "targets": {"task_page": row},
        "figures": {},
        "job_e2e": {"via": "API", "jobs": 0, "completed": 0, "outcomes": {}},
        "first_load": {"raw_bytes": 0, "gzip_bytes": 0, "parts": []},
        "budgets": [budget.judge({}) for budget in BUDGETS],
    }
    line = next(line for line in render_table(results).splitlines() if line.startswith("task page (300 rules)")
                and "40.00" in line)
    assert line.split()[-2:] == ["50.0", "2.00"]  # 2 cores x 1000 / 40 ms; the machine's other 2 ms
    assert "20.00" in line and "15.00" in line
