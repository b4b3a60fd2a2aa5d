"""A typed validation key is never rendered back into a page, and never lost (issue 10).

After a failed save (Arthur down, Arthur refusing, a form error) the connection-info form comes back
with everything typed except the key, which waits in the person's session (per task model, briefly)
while the page says so; a resubmit with the key field empty saves that key. Saving or Cancel forgets
it. What Arthur stored is read back through Local Arthur's API.
"""

from __future__ import annotations

import pytest
import responses

from tasks_ui import drafts
from tests.tasks_ui.arthur import client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)

TYPED_KEY = "typed-validation-key-7Qx9Zr2LmW"
KEPT_MESSAGE = "The validation key you typed is kept on the server"
HOST = "https://kept-host.example.com"


def _url(task) -> str:
    return f"/projects/{task.project_id}/tasks/{task.model_id}/connection"


def _form(**fields: str) -> dict[str, str]:
    data = {
        "idempotency_key": "connection-key-kept-0001",
        "api_host": HOST,
        "key_id": "kept-key-id",
        "key_name": "kept-key-name",
        "key": TYPED_KEY,
    }
    return {**data, **fields}


@pytest.fixture
def admin_api(local_arthur, api_token):
    return client_for(local_arthur, api_token("admin@example.com"))


def _stored_key(api, model_id: str) -> str:
    return api.get_task_connection_info(model_id).validation_key.key.get_secret_value()


def _assert_key_kept_not_shown(response) -> str:
    body = response.content.decode()
    assert response.status_code == 400
    assert TYPED_KEY not in body  # anywhere: value, error text, script, comment
    assert KEPT_MESSAGE in body
    assert f'value="{HOST}"' in body and 'value="kept-key-id"' in body and 'value="kept-key-name"' in body
    return body


def test_arthur_down_keeps_the_key_server_side_and_an_empty_resubmit_saves_it(
    sign_in, support_bot, local_arthur, partly_broken, admin_api
) -> None:
    client = sign_in("admin@example.com")
    before = _stored_key(admin_api, support_bot.model_id)
    put_url = f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/connection_info"
    failing = partly_broken.add(responses.PUT, put_url, json={"detail": "boom"}, status=500)

    body = _assert_key_kept_not_shown(client.post(_url(support_bot), _form()))
    assert "Arthur is unavailable" in body and failing.call_count == 1
    assert _stored_key(admin_api, support_bot.model_id) == before  # nothing was saved
    # Failing again with the field left empty keeps the same key (still never shown).
    _assert_key_kept_not_shown(client.post(_url(support_bot), _form(key="")))
    assert failing.call_count == 2

    partly_broken.remove(failing)
    saved = client.post(_url(support_bot), _form(key=""))
    assert saved.status_code == 302, saved.content.decode()
    assert _stored_key(admin_api, support_bot.model_id) == TYPED_KEY
    # Saved, so forgotten: the form no longer offers it, and an empty key is required again.
    assert KEPT_MESSAGE not in client.get(_url(support_bot)).content.decode()
    again = client.post(_url(support_bot), _form(key=""))
    assert again.status_code == 400 and 'data-error-for="key"' in again.content.decode()


def test_a_form_error_keeps_the_key_and_the_fixed_form_saves_it(sign_in, support_bot, admin_api) -> None:
    client = sign_in("admin@example.com")
    bad = client.post(_url(support_bot), _form(api_host="ftp://not-http"))
    body = bad.content.decode()
    assert bad.status_code == 400 and 'data-error-for="api_host"' in body
    assert TYPED_KEY not in body and KEPT_MESSAGE in body and 'data-error-for="key"' not in body
    # The form shown by a fresh GET says so too, while the key is kept.
    page = client.get(_url(support_bot)).content.decode()
    assert KEPT_MESSAGE in page and TYPED_KEY not in page

    saved = client.post(_url(support_bot), _form(key=""))
    assert saved.status_code == 302
    info = admin_api.get_task_connection_info(support_bot.model_id)
    assert info.api_host == HOST and info.validation_key.key.get_secret_value() == TYPED_KEY


def test_a_newly_typed_key_replaces_the_kept_one(sign_in, support_bot, admin_api) -> None:
    client = sign_in("admin@example.com")
    assert client.post(_url(support_bot), _form(api_host="ftp://x")).status_code == 400
    assert client.post(_url(support_bot), _form(key="second-typed-key-4455")).status_code == 302
    assert _stored_key(admin_api, support_bot.model_id) == "second-typed-key-4455"


def test_cancel_forgets_the_kept_key(sign_in, support_bot, admin_api) -> None:
    client = sign_in("admin@example.com")
    assert client.post(_url(support_bot), _form(api_host="ftp://x")).status_code == 400
    cancelled = client.post(_url(support_bot), {**_form(key=""), "cancel": "1"})
    assert cancelled.status_code == 302 and cancelled["Location"].endswith("#connection-info")
    page = client.get(_url(support_bot)).content.decode()
    assert KEPT_MESSAGE not in page
    empty = client.post(_url(support_bot), _form(key=""))
    assert empty.status_code == 400 and 'data-error-for="key"' in empty.content.decode()
    assert _stored_key(admin_api, support_bot.model_id) != TYPED_KEY


def test_a_key_arthur_refuses_is_not_kept(sign_in, support_bot, local_arthur, partly_broken) -> None:
    client = sign_in("admin@example.com")
    put_url = f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/connection_info"
    refusal = {"detail": [{"loc": ["body", "validation_key", "key"], "msg": "key refused", "type": "value_error"}]}
    partly_broken.add(responses.PUT, put_url, json=refusal, status=422)
    refused = client.post(_url(support_bot), _form())
    body = refused.content.decode()
    assert refused.status_code == 400 and "key refused" in body and 'data-error-for="key"' in body
    assert TYPED_KEY not in body and KEPT_MESSAGE not in body


def test_the_kept_key_belongs_to_one_task_model(sign_in, support_bot, local_arthur, api_token) -> None:
    client = sign_in("admin@example.com")
    other = find_task(client_for(local_arthur, api_token("admin@example.com")), "Claims Automation", "claims-assistant")
    assert client.post(_url(support_bot), _form(api_host="ftp://x")).status_code == 400
    assert KEPT_MESSAGE not in client.get(_url(other)).content.decode()
    empty = client.post(_url(other), _form(key=""))
    assert empty.status_code == 400 and 'data-error-for="key"' in empty.content.decode()


def test_the_kept_key_is_short_lived(sign_in, support_bot, monkeypatch) -> None:
    client = sign_in("admin@example.com")
    monkeypatch.setattr(drafts, "KEPT_KEY_SECONDS", 0)  # expired as soon as kept
    assert client.post(_url(support_bot), _form(api_host="ftp://x")).status_code == 400
    assert KEPT_MESSAGE not in client.get(_url(support_bot)).content.decode()
    empty = client.post(_url(support_bot), _form(key=""))
    assert empty.status_code == 400 and 'data-error-for="key"' in empty.content.decode()
    assert drafts.KEPT_KEYS_SESSION_KEY not in client.session  # the expired key was dropped
