"""The task page's rules table with many rules (issue 9): server-side pages and a bounded HTML size.

The cached state is uploaded through the control plane's ``PUT /task/cache`` (as the data plane
does after a sync), so the page reads it from Local Arthur over HTTP like any other task.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.tasks_ui.arthur import client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)

# The first-load budget is 150 KB for HTML + CSS + JS; CSS and JS weigh about 64 KB.
HTML_BUDGET = 86_000


def _cache_task_with_rules(local_arthur: str, api_token, settings, count: int):
    """Replace the support-bot task's cached rules by its default rules plus ``count`` task rules."""
    admin = api_token("admin@example.com")
    task = find_task(client_for(local_arthur, admin), "Customer Support", "support-bot")
    models = f"{local_arthur}/api/v1/models/{task.model_id}"
    state = requests.get(f"{models}/task", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()
    defaults = [rule for rule in state["task"]["rules"] if rule["scope"] == "default"]
    template = next(rule for rule in state["task"]["rules"] if rule["scope"] != "default")
    own = [
        dict(template, id=str(uuid.uuid4()), name=f"Rule {index:03d}", enabled=index % 3 != 0)
        for index in range(count - len(defaults))
    ]
    body = {"task": dict(state["task"], rules=[*defaults, *own]), "evals": [], "continuous_evals": [], "transforms": []}
    response = requests.put(
        f"{models}/task/cache",
        json=body,
        headers={"Authorization": f"Bearer {api_token(settings.DATAPLANE_CLIENT_ID)}"},
        timeout=30,
    )
    assert response.status_code < 300, response.text[:300]
    return task, [*defaults, *own]


def _url(task) -> str:
    return f"/projects/{task.project_id}/tasks/{task.model_id}/"


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-rule-id="([0-9a-f-]{36})"', html)


def test_rules_are_shown_fifty_a_page_with_real_page_links(sign_in, local_arthur, api_token, settings) -> None:
    task, rules = _cache_task_with_rules(local_arthur, api_token, settings, 80)
    client = sign_in("editor@example.com")

    first = client.get(_url(task)).content.decode()
    assert "(80)" in first  # the count is the task's, not the page's
    assert _row_ids(first) == [rule["id"] for rule in rules[:50]]
    assert f'href="{_url(task)}?rules_page=2#rules"' in first
    # The dialogs' forms, sign-out and one change form: not one form per rule (50 on this page).
    assert first.count('name="csrfmiddlewaretoken"') <= 5

    second = client.get(_url(task), {"rules_page": 2}).content.decode()
    assert _row_ids(second) == [rule["id"] for rule in rules[50:]]
    assert '<span aria-current="page" class="current">2</span>' in second
    assert 'name="rules_page" value="2"' in second


def test_an_htmx_page_link_gets_only_the_rules_region(sign_in, local_arthur, api_token, settings) -> None:
    task, rules = _cache_task_with_rules(local_arthur, api_token, settings, 80)
    client = sign_in("editor@example.com")

    response = client.get(_url(task), {"rules_page": 2}, headers={"HX-Request": "true", "HX-Target": "rules-table"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="rules-table">')
    assert "<html" not in html and 'id="task-panel"' not in html and 'id="connection-info"' not in html
    assert _row_ids(html) == [rule["id"] for rule in rules[50:]]


def test_a_change_from_page_two_returns_to_page_two(sign_in, local_arthur, api_token, settings) -> None:
    task, rules = _cache_task_with_rules(local_arthur, api_token, settings, 80)
    client = sign_in("editor@example.com")
    rule = rules[60]

    response = client.post(f"{_url(task)}rules/draft", {"toggle": f"disable:{rule['id']}", "rules_page": "2"})
    assert response.status_code == 302
    assert response["Location"] == f"{_url(task)}?rules_page=2#rules"
    page = client.get(response["Location"]).content.decode()
    assert f'<tr data-rule-id="{rule["id"]}" class="pending" data-pending="disable">' in page
    assert f'value="undo:{rule["id"]}"' in page

    client.post(f"{_url(task)}rules/draft", {"toggle": f"undo:{rule['id']}", "rules_page": "2"})
    assert 'data-pending="disable"' not in client.get(_url(task), {"rules_page": 2}).content.decode()


def test_a_malformed_change_is_refused_and_drafts_nothing(sign_in, local_arthur, api_token, settings) -> None:
    task, _ = _cache_task_with_rules(local_arthur, api_token, settings, 10)
    client = sign_in("editor@example.com")
    for value in ("disable", "disable:not-a-uuid", f"explode:{uuid.uuid4()}", f"disable:{uuid.uuid4()}"):
        page = client.post(f"{_url(task)}rules/draft", {"toggle": value}, follow=True).content.decode()
        assert "pending change" not in page, value
        assert "Unknown rule change." in page or "not associated with this task" in page, value


def test_the_task_page_of_a_300_rule_task_stays_under_the_html_budget(
    sign_in, local_arthur, api_token, settings
) -> None:
    task, _ = _cache_task_with_rules(local_arthur, api_token, settings, 300)
    client = sign_in("editor@example.com")  # an editor sees the change column too
    response = client.get(_url(task))
    assert response.status_code == 200
    assert "(300)" in response.content.decode()
    assert len(response.content) < HTML_BUDGET, len(response.content)


def test_an_htmx_refusal_answers_with_the_rules_region_and_says_why(sign_in, local_arthur, api_token, settings) -> None:
    task, rules = _cache_task_with_rules(local_arthur, api_token, settings, 10)
    default = next(rule for rule in rules if rule["scope"] == "default")
    client = sign_in("editor@example.com")
    htmx = {"HX-Request": "true", "HX-Target": "rules-table"}

    response = client.post(
        f"{_url(task)}rules/draft", {"toggle": f"archive:{default['id']}"}, headers=htmx, follow=True
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="rules-table">') and "<html" not in html
    assert 'id="messages"' in html and 'hx-swap-oob="true"' in html
    assert "Default rules cannot be deleted" in html
    assert "pending change" not in html
