"""Running a task's rules over a prompt or a response, shaped like the GenAI engine's ValidationResult.

Keyword, regex and PII rules are evaluated for real. Rules that need a model or an LLM judge
(toxicity, prompt injection, hallucination, sensitive data) answer ``Unavailable``, as the engine
does when it has no model; a hallucination rule without context is ``Skipped``, as in the engine.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Literal

from arthur_api import rules as rule_specs
from dataplane import pii
from dataplane.models import EngineRule, TaskRuleLink

Side = Literal["prompt", "response"]

PASS, FAIL, SKIPPED, UNAVAILABLE = "Pass", "Fail", "Skipped", "Unavailable"
# The engine's detail messages for pattern rules (genai-engine utils/constants.py).
KEYWORD_MATCHES = "Keywords found in text."
KEYWORD_NO_MATCHES = "No keywords found in text."
REGEX_MATCHES = "Regex match in text."
REGEX_NO_MATCHES = "No regex match in text."
NO_MODEL = "Local Arthur has no model for this rule: it was not evaluated."
NO_CONTEXT = "Hallucination rules need the context the response was based on."


def validate_text(task_id: uuid.UUID | str, text: str, *, side: Side, context: str | None = None) -> dict[str, Any]:
    """Run the task's enabled, non-archived rules that apply to ``side`` over ``text``.

    Returns the engine's ``ValidationResult`` JSON (``inference_id``, ``rule_results``, ``user_id``,
    ``model_name``). Never raises for any text; an unknown task simply has no rules.
    """
    links = (
        TaskRuleLink.objects.filter(task_id=task_id, enabled=True, rule__is_archived=False)
        .select_related("rule")
        .order_by("rule__created_at", "rule__id")
    )
    applicable = [
        link.rule for link in links if (link.rule.apply_to_prompt if side == "prompt" else link.rule.apply_to_response)
    ]
    return {
        "inference_id": str(uuid.uuid4()),
        "rule_results": [_run(rule, text, context=context) for rule in applicable],
        "user_id": None,
        "model_name": None,
    }


def _run(rule: EngineRule, text: str, *, context: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    result, details = _evaluate(rule, text, context=context)
    return {
        "id": str(rule.id),
        "name": rule.name,
        "rule_type": rule.type,
        "scope": rule.scope,
        "result": result,
        "latency_ms": int((time.perf_counter() - started) * 1000),
        "details": details,
    }


def _evaluate(rule: EngineRule, text: str, *, context: str | None) -> tuple[str, dict[str, Any] | None]:
    config = rule.config or {}
    if rule.type == rule_specs.KEYWORD:
        return _keywords(text, config.get("keywords") or [])
    if rule.type == rule_specs.REGEX:
        return _regexes(text, config.get("regex_patterns") or [])
    if rule.type == rule_specs.PII:
        return _pii(text, config)
    if rule.type == rule_specs.HALLUCINATION and not context:
        return SKIPPED, {"score": None, "message": NO_CONTEXT, "claims": []}
    return UNAVAILABLE, {"score": None, "message": NO_MODEL}


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # A keyword matches as a whole word or phrase: no letter or digit may touch either end, so
    # "cat" does not match "concatenate" but does match "cat," and keywords with punctuation
    # (URLs, "C++") still match where they stand alone.
    return re.compile(rf"(?<![^\W_]){re.escape(keyword)}(?![^\W_])", re.IGNORECASE)


def _keywords(text: str, keywords: list[str]) -> tuple[str, dict[str, Any]]:
    matches = [{"keyword": word} for word in keywords if word.strip() and _keyword_pattern(word).search(text)]
    if matches:
        return FAIL, {"score": False, "message": KEYWORD_MATCHES, "keyword_matches": matches}
    return PASS, {"score": True, "message": KEYWORD_NO_MATCHES, "keyword_matches": []}


def _regexes(text: str, patterns: list[str]) -> tuple[str, dict[str, Any]]:
    matches = [
        {"matching_text": match.group(), "pattern": pattern}
        for pattern in patterns
        for match in re.finditer(pattern, text)
        if match.group()
    ]
    if matches:
        return FAIL, {"score": False, "message": REGEX_MATCHES, "regex_matches": matches}
    return PASS, {"score": True, "message": REGEX_NO_MATCHES, "regex_matches": []}


def _pii(text: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    disabled = frozenset(config.get("disabled_pii_entities") or [])
    spans = pii.find_pii(text, disabled=disabled, allow_list=tuple(config.get("allow_list") or []))
    unchecked = [entity for entity in pii.UNDETECTED if entity not in disabled]
    note = f" Not checked (needs a model): {', '.join(unchecked)}." if unchecked else ""
    entities = [{"entity": span.entity, "span": span.span, "confidence": 1.0} for span in spans]
    if entities:
        found = ", ".join(sorted({span.entity for span in spans}))
        return FAIL, {"score": False, "message": f"PII found in text: {found}.{note}", "pii_entities": entities}
    return PASS, {"score": True, "message": f"No PII found in text.{note}", "pii_entities": []}
