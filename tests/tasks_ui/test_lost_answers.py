"""A change whose answer is lost after Arthur received it starts one job, never two.

Arthur's job API has no idempotency key, so when the dashboard's call times out waiting for the
answer (or a gateway answers 504) the job may exist. The dashboard looks for it before letting the
form be sent again. Here the sync call really reaches Local Arthur (forwarded with urllib, which
``responses`` does not intercept) and only the answer is lost.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
import requests
import responses

from tests.tasks_ui.arthur import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def _forward_then_lose_the_answer(request: requests.PreparedRequest) -> Exception:
    forwarded = urllib.request.Request(
        request.url, data=request.body or b"", method=request.method, headers=dict(request.headers)
    )
    with urllib.request.urlopen(forwarded, timeout=10) as answer:  # noqa: S310 (the test's own server)
        assert answer.status == 200, answer.status
        json.loads(answer.read())
    return requests.ReadTimeout("the answer never came")


def _sync_jobs(local_arthur: str, api_token, support_bot) -> list[str]:
    api = client_for(local_arthur, api_token("editor@example.com"))
    jobs = api.get_jobs(support_bot.project_id, kinds=["fetch_model_task"], page_size=100).records
    return [job.id for job in jobs if job.job_spec.get("scope_model_id") == support_bot.model_id]


def test_a_sync_whose_answer_is_lost_is_found_and_not_started_twice(
    local_arthur, sign_in, support_bot, api_token, partly_broken
) -> None:
    from tasks_ui.models import LedgerEntry

    before = set(_sync_jobs(local_arthur, api_token, support_bot))
    sync_url = f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/sync"
    partly_broken.add_callback(responses.POST, sync_url, callback=_forward_then_lose_the_answer)
    client = sign_in("editor@example.com")
    form = {"idempotency_key": "lost-answer-key-0001"}
    task_url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/"

    first = client.post(f"{task_url}sync", form)
    started = set(_sync_jobs(local_arthur, api_token, support_bot)) - before
    assert len(started) == 1  # Arthur did start it
    (job_id,) = started
    assert first.status_code == 302 and first["Location"].endswith(f"job={job_id}")
    assert list(LedgerEntry.objects.values_list("job_id", flat=True)) == [job_id]

    # The person, unsure, sends the same form again: the same job, nothing new.
    again = client.post(f"{task_url}sync", form)
    assert again.status_code == 302 and again["Location"].endswith(f"job={job_id}")
    assert set(_sync_jobs(local_arthur, api_token, support_bot)) - before == {job_id}
    assert LedgerEntry.objects.count() == 1


def test_a_sync_lost_before_arthur_got_it_can_be_sent_again(
    local_arthur, sign_in, support_bot, api_token, partly_broken
) -> None:
    from tasks_ui.models import LedgerEntry

    before = set(_sync_jobs(local_arthur, api_token, support_bot))
    sync_url = f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/sync"
    partly_broken.add(responses.POST, sync_url, body=requests.ReadTimeout("the answer never came"))
    client = sign_in("editor@example.com")
    form = {"idempotency_key": "lost-answer-key-0002"}
    task_url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/"

    refused = client.post(f"{task_url}sync", form)
    assert refused.status_code == 503 and "did not answer in time" in refused.content.decode()  # the designed page
    assert set(_sync_jobs(local_arthur, api_token, support_bot)) == before
    assert LedgerEntry.objects.count() == 0  # nothing reserved: the form may be sent again

    partly_broken.remove(responses.POST, sync_url)
    sent = client.post(f"{task_url}sync", form)
    started = set(_sync_jobs(local_arthur, api_token, support_bot)) - before
    assert len(started) == 1 and sent["Location"].endswith(f"job={started.pop()}")
