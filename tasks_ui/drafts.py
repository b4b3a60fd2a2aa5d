"""What a person typed but has not saved yet, kept server-side in their session, keyed by model id.

Rule edits as a draft: enable, disable, archive and new rules are collected here (marked pending on
the task page, discardable) until "Review and submit" sends them as one ``patch_task`` job. Nothing
is kept in the browser, so a draft survives reloads and works without JavaScript.

A typed validation key whose save failed (see ``kept_key_get``): it is never rendered back into the
page, so it waits here, briefly, for the next submit of the connection-info form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from arthur_api.records import Rule, Task

SESSION_KEY = "tasks_ui_rule_drafts"
TOGGLES = ("enable", "disable", "archive")


@dataclass
class RuleDraft:
    """Pending rule changes of one task model (rule ids per toggle, new rules as NewRuleRequest dicts)."""

    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    archive: list[str] = field(default_factory=list)
    add: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.enable or self.disable or self.archive or self.add)

    @property
    def size(self) -> int:
        return len(self.enable) + len(self.disable) + len(self.archive) + len(self.add)

    def pending(self, rule_id: str) -> str | None:
        """The pending change of ``rule_id`` ("enable", "disable", "archive") or None."""
        return next((toggle for toggle in TOGGLES if rule_id in getattr(self, toggle)), None)

    def set_toggle(self, rule_id: str, toggle: str | None) -> None:
        """Make ``toggle`` the one pending change of ``rule_id`` (None: undo it)."""
        for name in TOGGLES:
            ids = getattr(self, name)
            if rule_id in ids:
                ids.remove(rule_id)
        if toggle is not None:
            getattr(self, toggle).append(rule_id)

    def patch_body(self) -> dict[str, Any]:
        """The ``PatchTaskRequest`` body for this draft."""
        return {
            "rules_to_enable": list(self.enable),
            "rules_to_disable": list(self.disable),
            "rules_to_archive": list(self.archive),
            "rules_to_add": list(self.add),
        }

    def plain_words(self, task: Task | None) -> list[str]:
        """The change in plain words, one line each ("Disable “SSN Regex Rule”", "Add “No PINs” (RegexRule)")."""
        names = {rule.id: rule.name for rule in (task.rules if task else [])}
        lines = []
        for verb, ids in (("Enable", self.enable), ("Disable", self.disable), ("Archive", self.archive)):
            lines += [f"{verb} “{names.get(rule_id, rule_id)}”" for rule_id in ids]
        lines += [f"Add “{rule['name']}” ({rule['type']})" for rule in self.add]
        return lines


def draft_get(session: SessionBase, model_id: str) -> RuleDraft:
    """The person's draft for ``model_id`` (empty when there is none)."""
    data = session.get(SESSION_KEY, {}).get(model_id) or {}
    return RuleDraft(**{key: list(data.get(key) or []) for key in (*TOGGLES, "add")})


def draft_save(session: SessionBase, model_id: str, draft: RuleDraft) -> None:
    """Store ``draft`` for ``model_id``; an empty draft is removed."""
    drafts = dict(session.get(SESSION_KEY, {}))
    if draft.is_empty:
        drafts.pop(model_id, None)
    else:
        drafts[model_id] = {
            "enable": draft.enable,
            "disable": draft.disable,
            "archive": draft.archive,
            "add": draft.add,
        }
    session[SESSION_KEY] = drafts


def draft_discard(session: SessionBase, model_id: str) -> None:
    draft_save(session, model_id, RuleDraft())


def toggle_allowed(rule: Rule, toggle: str) -> str | None:
    """Why ``toggle`` cannot be drafted for ``rule`` (the engine's reason), or None when it can."""
    from arthur_api.rules import MSG_DEFAULT_RULE_ARCHIVE

    if toggle == "archive" and rule.scope == "default":
        return MSG_DEFAULT_RULE_ARCHIVE
    if toggle == "enable" and rule.enabled:
        return "This rule is already enabled."
    if toggle == "disable" and rule.enabled is False:
        return "This rule is already disabled."
    return None


# --- a typed validation key whose save failed ------------------------------------------------------

KEPT_KEYS_SESSION_KEY = "tasks_ui_kept_validation_keys"
KEPT_KEY_SECONDS = 10 * 60


def _kept_keys(session: SessionBase) -> dict[str, dict[str, Any]]:
    """The person's unexpired kept keys by model id; expired ones are dropped from the session now."""
    stored = session.get(KEPT_KEYS_SESSION_KEY) or {}
    now = time.time()
    kept = {model_id: entry for model_id, entry in stored.items() if entry.get("expires", 0) > now}
    if len(kept) != len(stored):
        _kept_keys_store(session, kept)
    return kept


def _kept_keys_store(session: SessionBase, kept: dict[str, dict[str, Any]]) -> None:
    if kept:
        session[KEPT_KEYS_SESSION_KEY] = kept
    else:
        session.pop(KEPT_KEYS_SESSION_KEY, None)


def kept_key_get(session: SessionBase, model_id: str) -> str:
    """The validation key typed for ``model_id`` in a save that failed, or "" (none, or older than
    ``KEPT_KEY_SECONDS``: a secret is not left lying in the session)."""
    return str((_kept_keys(session).get(model_id) or {}).get("key") or "")


def kept_key_save(session: SessionBase, model_id: str, key: str) -> None:
    """Keep ``key`` for the next submit of ``model_id``'s connection form (the clock starts again)."""
    kept = _kept_keys(session)
    kept[model_id] = {"key": key, "expires": time.time() + KEPT_KEY_SECONDS}
    _kept_keys_store(session, kept)


def kept_key_forget(session: SessionBase, model_id: str) -> None:
    """Drop the kept key of ``model_id`` (saved, cancelled, refused)."""
    kept = _kept_keys(session)
    if kept.pop(model_id, None) is not None:
        _kept_keys_store(session, kept)
