"""``EngineClient``: the GenAI engine's validate endpoints, called with a task's validation key.

The engine lives at a task's connection info ``api_host`` (``{ARTHUR_HOST}/engine`` for Local
Arthur) and accepts the task's validation key as a bearer token. The client reuses
``ArthurClient``'s session, timeouts and single ``_request()`` failure mapping; the one difference is
that a 401 here means the *validation key* was refused, not that the person must sign in again, so
it is raised as ``EngineKeyRefused`` (never ``ArthurUnauthenticated``, which would sign them out).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from arthur_api.auth import BearerTokenAuth
from arthur_api.client import ArthurClient, _json, _parse
from arthur_api.errors import ArthurError, ArthurUnauthenticated


class EngineKeyRefused(ArthurError):
    """401 from the engine: the validation key is wrong, deactivated or belongs to another task."""


class RuleResult(BaseModel):
    """One rule's verdict: ``result`` is Pass, Fail, Skipped or Unavailable; ``details`` say why."""

    id: str
    name: str
    rule_type: str
    scope: str | None = None
    result: str
    latency_ms: int | None = None
    details: dict[str, Any] | None = None

    @property
    def message(self) -> str:
        return str((self.details or {}).get("message") or "")

    @property
    def matches(self) -> list[str]:
        """What the rule found (keywords, matching text, PII entities), for showing next to the verdict."""
        details = self.details or {}
        found = [item.get("keyword", "") for item in details.get("keyword_matches") or []]
        found += [item.get("matching_text", "") for item in details.get("regex_matches") or []]
        found += [f"{item.get('entity')}: {item.get('span')}" for item in details.get("pii_entities") or []]
        return [text for text in found if text]


class ValidationResult(BaseModel):
    inference_id: str | None = None
    rule_results: list[RuleResult] = Field(default_factory=list)


class EngineClient(ArthurClient):
    """The validate endpoints of one task's engine (``api_host``), authenticated with its validation key."""

    def __init__(self, api_host: str, validation_key: str, *, timeout: float | tuple[float, float] | None = None):
        super().__init__(api_host, BearerTokenAuth(lambda: validation_key), timeout=timeout)

    def __repr__(self) -> str:
        return f"EngineClient({self.base_url!r})"

    def validate_prompt(self, task_id: str, prompt: str) -> ValidationResult:
        """Run the task's prompt rules over ``prompt``.

        Raises ``EngineKeyRefused`` (401), ``ArthurNotFound`` (no such task), ``ArthurRejected`` (422),
        ``ArthurUnavailable`` (timeout, unreachable, 5xx), as mapped by ``ArthurClient._request``.
        """
        return self._validate(f"/api/v2/tasks/{task_id}/validate_prompt", {"prompt": prompt})

    def validate_response(self, task_id: str, response: str, *, context: str | None = None) -> ValidationResult:
        """Run the task's response rules over ``response`` (``context`` feeds hallucination rules).

        Raises as ``validate_prompt`` does.
        """
        body: dict[str, Any] = {"response": response}
        if context:
            body["context"] = context
        return self._validate(f"/api/v2/tasks/{task_id}/validate_response", body)

    def _validate(self, path: str, body: dict[str, Any]) -> ValidationResult:
        try:
            answer = self._request("POST", path, json=body)
        except ArthurUnauthenticated as exc:
            raise EngineKeyRefused("the engine refused the task's validation key", status=exc.status) from exc
        return _parse(ValidationResult, _json(answer))
