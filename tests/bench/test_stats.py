"""The benchmark's judgement: percentiles, ratios, verdicts, upstream-call counting and the table."""

from __future__ import annotations

import pytest

from bench.run import count_api_calls, render_table
from bench.stats import BUDGETS, FAIL, PASS, UNKNOWN, Budget, percentile, ratio, summarize, throughput, verdict


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(x) for x in range(1, 101)], 95) == pytest.approx(95.05)
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 0) == 1.0 and percentile([1.0, 2.0], 100) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_is_in_milliseconds() -> None:
    summary = summarize([0.010, 0.020, 0.030, 0.040, 1.0])
    assert (summary.count, summary.p50_ms, summary.max_ms) == (5, 30.0, 1000.0)
    assert 40.0 < summary.p95_ms < summary.p99_ms < 1000.0


def test_throughput_and_ratio_refuse_to_divide_by_nothing() -> None:
    assert throughput(300, 2.0) == 150.0
    assert throughput(10, 0.0) == 0.0
    assert ratio(30.0, 100.0) == pytest.approx(0.3)
    assert ratio(30.0, 0.0) is None


def test_verdicts_on_both_sides_of_a_limit() -> None:
    assert verdict(0.30, ">=", 0.30) == PASS
    assert verdict(0.29, ">=", 0.30) == FAIL
    assert verdict(250.0, "<=", 250) == PASS
    assert verdict(250.1, "<=", 250) == FAIL
    assert verdict(None, "<=", 1) == UNKNOWN
    assert verdict(float("nan"), "<=", 1) == UNKNOWN
    with pytest.raises(ValueError):
        verdict(1.0, "<", 2.0)  # type: ignore[arg-type]


def passing_figures() -> dict[str, float]:
    return {
        "poll_running.ratio": 0.5,
        "poll_finished.upstream_calls": 0,
        "task_page.p95_ms": 120.0,
        "task_page.ratio": 0.2,
        "projects.latency_ratio": 1.1,
        "job_e2e.p50_ms": 600.0,
        "job_e2e.p95_ms": 900.0,
        "task_page.upstream_calls": 3,
        "poll_running.upstream_calls": 1,
        "poll.max_bytes": 900,
        "first_load.raw_bytes": 120_000,
    }


def test_every_budget_of_the_issue_is_judged_and_each_can_fail() -> None:
    figures = passing_figures()
    assert {budget.measure for budget in BUDGETS} == set(figures)
    assert [row["verdict"] for row in (budget.judge(figures) for budget in BUDGETS)] == [PASS] * len(BUDGETS)
    for budget in BUDGETS:
        worse = dict(figures)
        worse[budget.measure] = budget.limit * 2 + 1 if budget.comparison == "<=" else budget.limit / 2
        assert budget.judge(worse)["verdict"] == FAIL, budget.name
    missing = Budget("x", "not.measured", "<=", 1).judge(figures)
    assert missing["verdict"] == UNKNOWN and missing["value"] is None


def test_upstream_calls_are_counted_by_request_id_and_api_path() -> None:
    log = "\n".join(
        [
            '127.0.0.1 "GET /api/v1/jobs/1 HTTP/1.1" 200 900 4ms rid=page-one',
            '127.0.0.1 "POST /api/v1/permissions/check HTTP/1.1" 200 300 5ms rid=page-one',
            '127.0.0.1 "GET /projects/1/tasks/2/ HTTP/1.1" 200 9000 40ms rid=page-one',  # the page itself
            '127.0.0.1 "GET /api/v1/jobs/1 HTTP/1.1" 200 900 4ms rid=page-one-again',
            '127.0.0.1 "POST /api/v1/data_planes/x/jobs/next HTTP/1.1" 204 0 3ms rid=agent',
        ]
    )
    assert count_api_calls(log, "page-one") == 2
    assert count_api_calls(log, "page-one-again") == 1
    assert count_api_calls(log, "nobody") == 0


def test_the_table_shows_every_target_figure_and_verdict() -> None:
    row = {"clients": 8, "requests": 100, "bad": 0, "rps": 50.0, "ratio": 0.5, "p50_ms": 10.0, "p95_ms": 20.0,
           "p99_ms": 30.0, "upstream_calls": 1, "bytes": 500}
    figures = passing_figures()
    figures["task_page.p95_ms"] = 400.0
    results = {
        "targets": {"ceiling": {**row, "ratio": 1.0}, "task_page": row},
        "figures": figures,
        "job_e2e": {"via": "API", "jobs": 30, "completed": 30, "outcomes": {"completed": 30}, "p50_ms": 600.0,
                    "p95_ms": 900.0, "max_ms": 950.0},
        "first_load": {"raw_bytes": 1000, "gzip_bytes": 400,
                       "parts": [{"url": "http://x/", "raw": 1000, "gzip": 400, "served_gzip": False}]},
        "budgets": [budget.judge(figures) for budget in BUDGETS],
    }
    table = render_table(results)
    assert "ceiling (bench/ceiling), first" in table and "task page (300 rules)" in table
    assert "p50 600.0 ms, p95 900.0 ms" in table
    verdict_lines = [line for line in table.splitlines() if line.endswith((PASS, FAIL))]
    assert len(verdict_lines) == len(BUDGETS)
    assert [line for line in verdict_lines if line.endswith(FAIL)] == [
        line for line in verdict_lines if line.startswith("task page: p95 at 8 clients")
    ]


def test_profiles_name_the_project_functions_that_take_the_time() -> None:
    from pyinstrument import Profiler

    from arthur_api.rules import canonical_config
    from bench.profile import hot_frames

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(20000):
        canonical_config("PIIDataRule", {"disabled_pii_entities": ["URL"], "confidence_threshold": 0.5})
    profiler.stop()
    hot = hot_frames(profiler, limit=5)
    own = {row["function"]: row["share"] for row in hot["own"]}
    assert own.get("arthur_api/rules.py:canonical_config", 0) > 0.5
    assert hot["self"] and all(0 < row["share"] <= 1 for row in hot["self"])


def test_a_browser_polling_every_second_sees_the_end_at_the_first_poll_after_it() -> None:
    from bench.run import browser_cadence_estimate

    assert browser_cadence_estimate(0.1, 0.6) == pytest.approx(1.1)  # done before the first poll
    assert browser_cadence_estimate(0.1, 1.6) == pytest.approx(2.1)
    assert browser_cadence_estimate(0.1, 0.1) == pytest.approx(1.1)


def test_the_sync_form_and_the_first_load_files_are_found_in_the_page() -> None:
    from bench.run import linked_assets, sync_form_in

    page = """<form method="post" action="/p/1/tasks/2/rules/draft"><input type="hidden" name="a" value="1"></form>
    <form method="post" action="/p/1/tasks/2/sync" class="x"><input type="hidden" name="csrfmiddlewaretoken"
    value="tok"><input type="hidden" name="idempotency_key" value="k1"><button>Sync</button></form>"""
    assert sync_form_in(page, "http://h:1/p/1/tasks/2/") == {
        "action": "http://h:1/p/1/tasks/2/sync",
        "csrfmiddlewaretoken": "tok",
        "idempotency_key": "k1",
    }
    assert sync_form_in('<form method="get" action="/sync"></form>', "http://h/") is None
    html = (b'<link rel="stylesheet" href="/static/css/app.1.css"><script src="/static/htmx.min.js" defer>'
            b'</script><script nonce="n">inline()</script><script src="/static/js/app.2.js" defer></script>')
    assert linked_assets(html) == [b"/static/css/app.1.css", b"/static/htmx.min.js", b"/static/js/app.2.js"]
