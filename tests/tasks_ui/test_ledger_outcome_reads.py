"""The ledger's outcome follows every read of a job, not only the tracker's own reads of Arthur.

Found by tests/reliability/test_load.py: a job read first by the submit answer (a double-submitted
form) or by the page a rule change redirects to (``?job=``) after it had already finished was kept in
the person's job cache without its outcome being recorded; the tracker's polls are then answered from
that cache, so the ledger row stayed "queued" while Arthur said "completed".
"""

from __future__ import annotations

import re

import pytest
from django_htmx.http import HTMX_STOP_POLLING

from tasks_ui.models import LedgerEntry
from tests.tasks_ui.arthur import FakeDataPlane

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HTTP_HX_REQUEST": "true"}
TRACKER_ID = re.compile(r'id="tracker-([0-9a-f-]{36})"')
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_fresh_window(monkeypatch):
    # Every read of a running job goes to Arthur (no person-level freshness window, if there is one).
    monkeypatch.setattr("tasks_ui.selectors.RUNNING_JOB_FRESH_SECONDS", 0, raising=False)


def _finish_the_job(local_arthur, api_token, job_id: str) -> None:
    data_plane = FakeDataPlane(local_arthur, api_token("data-plane-demo"))
    run = data_plane.claim()
    assert run.job_id == job_id
    data_plane.finish(run)


def _poll(client, job_id: str):
    poll = client.get(f"/jobs/{job_id}/poll", **HX)
    assert poll.status_code == HTMX_STOP_POLLING and 'data-job-state="completed"' in poll.content.decode()


def test_a_double_submit_answered_after_the_job_ended_leaves_the_ledger_following_arthur(
    local_arthur, api_token, sign_in, support_bot
) -> None:
    editor = sign_in("editor@example.com")
    url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/sync"
    first = editor.post(url, {"idempotency_key": KEY}, **HX)
    job_id = TRACKER_ID.search(first.content.decode()).group(1)
    _finish_the_job(local_arthur, api_token, job_id)

    again = editor.post(url, {"idempotency_key": KEY}, **HX)  # the second click reads the finished job
    assert TRACKER_ID.search(again.content.decode()).group(1) == job_id
    _poll(editor, job_id)
    assert LedgerEntry.objects.get(job_id=job_id).outcome == "completed"


def test_the_page_a_change_redirects_to_after_the_job_ended_leaves_the_ledger_following_arthur(
    local_arthur, api_token, sign_in, support_bot
) -> None:
    editor = sign_in("editor@example.com")
    task_url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/"
    sent = editor.post(task_url + "sync", {"idempotency_key": KEY})  # without JavaScript: POST/redirect/GET
    assert sent.status_code == 302 and "?job=" in sent["Location"]
    job_id = sent["Location"].rsplit("job=", 1)[1]
    _finish_the_job(local_arthur, api_token, job_id)

    assert editor.get(sent["Location"]).status_code == 200  # the redirect's page shows the finished job
    _poll(editor, job_id)
    assert LedgerEntry.objects.get(job_id=job_id).outcome == "completed"
