"""The engine's validate endpoints, authenticated with a task's validation key.

``POST {api_host}/api/v2/tasks/{task_id}/validate_prompt`` and ``.../validate_response[/{inference_id}]``
with ``Authorization: Bearer <validation key>``. They are plain JSON endpoints for applications
(no cookies, hence no CSRF); error bodies follow FastAPI, as the engine's do.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dataplane.models import EngineTask
from dataplane.store import EngineStore
from dataplane.validation import Side, validate_text

# The validate endpoints only read keys and rules: the store's public address is not needed here.
_store = EngineStore(api_host="")


@csrf_exempt
@require_POST
def validate_prompt(request: HttpRequest, task_id: uuid.UUID) -> JsonResponse:
    """Run the task's prompt rules over ``{"prompt": ...}``: 401 without the task's key, 404 for no task."""
    return _validate(request, task_id, side="prompt", text_field="prompt")


@csrf_exempt
@require_POST
def validate_response(request: HttpRequest, task_id: uuid.UUID, inference_id: uuid.UUID | None = None) -> JsonResponse:
    """Run the task's response rules over ``{"response": ..., "context"?: ...}`` (errors as for prompts)."""
    return _validate(request, task_id, side="response", text_field="response", inference_id=inference_id)


def _validate(
    request: HttpRequest, task_id: uuid.UUID, *, side: Side, text_field: str, inference_id: uuid.UUID | None = None
) -> JsonResponse:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or _store.authenticate_validation_key(task_id, key.strip()) is None:
        response = JsonResponse({"detail": "Unauthorized"}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if not EngineTask.objects.filter(id=task_id).exists():
        return JsonResponse({"detail": f"Task {task_id} not found"}, status=404)
    body, problems = _parse_body(request, text_field)
    if problems:
        return JsonResponse({"detail": problems}, status=422)
    context = body.get("context") if side == "response" else None
    result = validate_text(task_id, body[text_field], side=side, context=context)
    if inference_id is not None:
        result["inference_id"] = str(inference_id)
    result["user_id"] = body.get("user_id")
    result["model_name"] = body.get("model_name")
    return JsonResponse(result)


def _parse_body(request: HttpRequest, text_field: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return {}, [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
    if not isinstance(body, dict):
        return {}, [{"loc": ["body"], "msg": "Input should be a valid dictionary or object", "type": "dict_type"}]
    problems = []
    if text_field not in body:
        problems.append({"loc": ["body", text_field], "msg": "Field required", "type": "missing"})
    elif not isinstance(body[text_field], str):
        problems.append({"loc": ["body", text_field], "msg": "Input should be a valid string", "type": "string_type"})
    for optional in ("context", "user_id", "model_name", "conversation_id"):
        if body.get(optional) is not None and not isinstance(body[optional], str):
            problems.append({"loc": ["body", optional], "msg": "Input should be a valid string", "type": "string_type"})
    return body, problems
