"""Forms: the read pages' search and filter parameters, and every change, validated before they reach Arthur."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.http import QueryDict

from arthur_api import rules as rule_specs
from arthur_api.errors import ArthurRejected
from arthur_api.records import ConnectorSpec
from tasks_ui.selectors import LOG_LEVELS
from tasks_ui.templatetags.tasks_ui_tags import KIND_LABELS


class ProjectSearchForm(forms.Form):
    # key → (label, API sort field, API order)
    SORTS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "name": ("Name A–Z", "name", "asc"),
        "-name": ("Name Z–A", "name", "desc"),
        "-updated_at": ("Recently updated", "updated_at", "desc"),
        "-created_at": ("Newest", "created_at", "desc"),
    }

    workspace = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search projects",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Project name"}),
    )
    sort = forms.ChoiceField(required=False, choices=[(key, value[0]) for key, value in SORTS.items()])

    def clean_sort(self) -> str:
        return self.cleaned_data.get("sort") or "name"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"workspace": "", "q": "", "sort": "name"}


class JobFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *KIND_LABELS.items()])
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state")] + [(s, s) for s in ("queued", "running", "completed", "failed", "cancelled")],
    )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"kind": "", "state": ""}


class LogLevelForm(forms.Form):
    level = forms.ChoiceField(
        required=False,
        label="Show logs at",
        choices=[("", "every level")] + [(lvl, f"{lvl} and above") for lvl in LOG_LEVELS],
    )


# --- changes ------------------------------------------------------------------------------------


def new_idempotency_key() -> str:
    """A one-time key for a mutating form: the same key submitted twice starts one job."""
    return uuid.uuid4().hex


class ChangeForm(forms.Form):
    """Every mutating form carries a one-time key (see ``tasks_ui.services.job_submit``)."""

    # At most 48 characters: a submit in flight reserves the ledger's job id as "pending-<key>" (64 max).
    idempotency_key = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,48}$", widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", new_idempotency_key())
        super().__init__(*args, **kwargs)

    def add_api_errors(self, exc: ArthurRejected, fields: dict[str, str] | None = None) -> None:
        """Put Arthur's refusal next to the right field: each 422 ``loc`` mapped through ``fields``
        (API field name → form field), the rest (and a plain 400 message) above the form."""
        fields = fields or {}
        placed = False
        for error in exc.field_errors:
            names = [str(part) for part in error.loc if isinstance(part, str) and part not in {"body", "query"}]
            target = next((fields[name] for name in reversed(names) if name in fields), None)
            if target is None:
                target = next((name for name in reversed(names) if name in self.fields), None)
            self.add_error(target, error.msg)
            placed = True
        if not placed:
            self.add_error(None, exc.message)


EXAMPLE_ROWS = 4
# rules.py problem loc (after "config") → RuleForm field
_CONFIG_FIELDS = {
    "keywords": "keywords",
    "regex_patterns": "regex_patterns",
    "threshold": "toxicity_threshold",
    "disabled_pii_entities": "pii_entities",
    "allow_list": "allow_list",
    "confidence_threshold": "allow_list",
    "examples": "examples",
    "hint": "hint",
}
RULE_TYPE_HELP = {
    rule_specs.KEYWORD: "Fails when any keyword appears as a whole word or phrase (case-insensitive).",
    rule_specs.REGEX: "Fails when any pattern matches. Each pattern is compiled on the server.",
    rule_specs.PII: "Fails when personal data of a checked kind is found, except text in the allow list.",
    rule_specs.TOXICITY: "Fails when the toxicity score is above the threshold.",
    rule_specs.PROMPT_INJECTION: "Prompts only: the engine refuses it on responses.",
    rule_specs.HALLUCINATION: "Responses only: the engine refuses it on prompts.",
    rule_specs.SENSITIVE_DATA: "Prompts only. Give examples of what is (yes) and is not (no) sensitive.",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class RuleForm(forms.Form):
    """A new rule, one config editor per type; validated with the engine's own rules and messages."""

    name = forms.CharField(max_length=200)
    type = forms.ChoiceField(
        choices=[(rule_type, rule_type) for rule_type in rule_specs.RULE_TYPES],
        label="Rule type",
        # The switches follow each type's constraint in the browser; the server checks it again.
        widget=forms.Select(
            attrs={
                "data-rule-type-select": "",
                "data-prompt-only": f"{rule_specs.PROMPT_INJECTION} {rule_specs.SENSITIVE_DATA}",
                "data-response-only": rule_specs.HALLUCINATION,
            }
        ),
    )
    apply_to_prompt = forms.BooleanField(required=False, initial=True, label="Apply to prompts")
    apply_to_response = forms.BooleanField(required=False, initial=False, label="Apply to responses")
    keywords = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="One keyword or phrase per line."
    )
    regex_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Regex patterns",
        help_text="One pattern per line (Python syntax).",
    )
    pii_entities = forms.MultipleChoiceField(
        required=False,
        choices=[(entity, entity) for entity in rule_specs.PII_ENTITIES],
        initial=list(rule_specs.PII_ENTITIES),
        widget=forms.CheckboxSelectMultiple,
        label="PII entities to detect",
        help_text="Unchecked entities are disabled.",
    )
    allow_list = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Text never reported as PII, one per line."
    )
    toxicity_threshold = forms.FloatField(
        required=False,
        initial=rule_specs.DEFAULT_TOXICITY_THRESHOLD,
        label="Toxicity threshold",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
        help_text="Between 0 and 1.",
    )
    examples = forms.CharField(required=False, widget=forms.HiddenInput)  # errors of the example rows land here
    hint = forms.CharField(required=False, max_length=500, help_text="What counts as sensitive, in a few words.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index in range(EXAMPLE_ROWS):
            self.fields[f"example_{index}"] = forms.CharField(
                required=False, max_length=1000, label=f"Example {index + 1}"
            )
            self.fields[f"result_{index}"] = forms.ChoiceField(
                required=False, choices=[("yes", "sensitive"), ("no", "not sensitive")], label="Sensitive?"
            )

    def example_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"example_{index}"], self[f"result_{index}"]) for index in range(EXAMPLE_ROWS)]

    def rule_request(self) -> dict[str, Any]:
        """The cleaned form as the engine's ``NewRuleRequest`` dict (call after ``is_valid``)."""
        data = self.cleaned_data
        rule_type = data["type"]
        config: dict[str, Any] | None = None
        if rule_type == rule_specs.KEYWORD:
            config = {"keywords": _lines(data.get("keywords", ""))}
        elif rule_type == rule_specs.REGEX:
            config = {"regex_patterns": _lines(data.get("regex_patterns", ""))}
        elif rule_type == rule_specs.PII:
            checked = set(data.get("pii_entities") or [])
            config = {
                "disabled_pii_entities": [entity for entity in rule_specs.PII_ENTITIES if entity not in checked],
                "allow_list": _lines(data.get("allow_list", "")),
            }
        elif rule_type == rule_specs.TOXICITY:
            threshold = data.get("toxicity_threshold")
            config = {"threshold": rule_specs.DEFAULT_TOXICITY_THRESHOLD if threshold is None else threshold}
        elif rule_type == rule_specs.SENSITIVE_DATA:
            examples = [
                {"example": data[f"example_{index}"].strip(), "result": data.get(f"result_{index}") != "no"}
                for index in range(EXAMPLE_ROWS)
                if (data.get(f"example_{index}") or "").strip()
            ]
            config = {"examples": examples, "hint": data.get("hint", "").strip()}
        return {
            "name": data["name"],
            "type": rule_type,
            "apply_to_prompt": bool(data.get("apply_to_prompt")),
            "apply_to_response": bool(data.get("apply_to_response")),
            "config": config,
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for problem in rule_specs.validate_new_rule(self.rule_request()):
            self.add_error(self._field_for(problem.loc), problem.msg)
        return cleaned

    def _field_for(self, loc: tuple[str | int, ...]) -> str | None:
        names = [part for part in loc if isinstance(part, str)]
        if names[:1] == ["config"]:
            return _CONFIG_FIELDS.get(names[1]) if len(names) > 1 else self._config_field()
        return names[-1] if names and names[-1] in self.fields else None

    def _config_field(self) -> str | None:
        return {
            rule_specs.KEYWORD: "keywords",
            rule_specs.REGEX: "regex_patterns",
            rule_specs.SENSITIVE_DATA: "examples",
        }.get(self.cleaned_data.get("type", ""))


class DraftToggleForm(forms.Form):
    toggle = forms.ChoiceField(
        choices=[("enable", "enable"), ("disable", "disable"), ("archive", "archive"), ("undo", "undo")]
    )


MAX_INITIAL_RULES = 10


class CreateTaskForm(ChangeForm):
    """A new task and its initial rules: ``rule_count`` rule editors prefixed ``rule-<i>``.

    "Add a rule" and "Remove" buttons re-render the form with one editor more or less (see
    ``with_rule_added`` / ``with_rule_removed``), so several rules can be given without JavaScript.
    """

    name = forms.CharField(max_length=200, label="Task name")
    connector_id = forms.ChoiceField(label="Engine connector")
    onboarding_identifier = forms.CharField(
        required=False, max_length=200, help_text="Optional: how the new task model is found once created."
    )
    rule_count = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_INITIAL_RULES, initial=0, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, connectors: list[ConnectorSpec], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector_id"].choices = [(c.id, c.name) for c in connectors]
        count = _rule_count(self.data) if self.is_bound else 0
        self.rule_forms = [
            RuleForm(self.data if self.is_bound else None, prefix=f"rule-{index}") for index in range(count)
        ]

    @property
    def can_add_rule(self) -> bool:
        return len(self.rule_forms) < MAX_INITIAL_RULES

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if not name.strip():
            raise forms.ValidationError("Task names cannot contain only white space characters")
        return name

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([rule_form.is_valid() for rule_form in self.rule_forms]) and valid

    def create_body(self, onboarding_identifier: str) -> dict[str, Any]:
        data = self.cleaned_data
        body: dict[str, Any] = {
            "name": data["name"],
            "connector_id": data["connector_id"],
            "onboarding_identifier": onboarding_identifier,
        }
        if self.rule_forms:
            body["rules_to_add"] = [rule_form.rule_request() for rule_form in self.rule_forms]
        return body


def _rule_count(data: Any) -> int:
    try:
        return max(0, min(MAX_INITIAL_RULES, int(data.get("rule_count") or 0)))
    except (TypeError, ValueError):
        return 0


def with_rule_added(data: QueryDict) -> QueryDict:
    """The create form's data with one more (empty) rule editor."""
    data = data.copy()
    data["rule_count"] = str(min(MAX_INITIAL_RULES, _rule_count(data) + 1))
    return data


def with_rule_removed(data: QueryDict, index: int) -> QueryDict:
    """The create form's data without rule editor ``index``; the later editors move up one place."""
    data = data.copy()
    count = _rule_count(data)
    if not 0 <= index < count:
        return data
    for position in range(index, count):
        target, source = f"rule-{position}-", f"rule-{position + 1}-"
        for key in [key for key in data if key.startswith(target)]:
            del data[key]
        for key in [key for key in data if key.startswith(source)]:
            data.setlist(target + key[len(source) :], data.getlist(key))
    data["rule_count"] = str(count - 1)
    return data


class LinkTaskForm(ChangeForm):
    task_id = forms.UUIDField(label="Task id", help_text="The id of a task that already exists in the engine.")
    connector_id = forms.ChoiceField(label="Engine connector")
    onboarding_identifier = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, connectors: list[ConnectorSpec], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector_id"].choices = [(c.id, c.name) for c in connectors]


class DeleteTaskForm(ChangeForm):
    confirm_name = forms.CharField(label="Type the task name to confirm", max_length=200)

    def __init__(self, *args: Any, task_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_name = task_name

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value != self.task_name:
            raise forms.ValidationError(f"Type “{self.task_name}” exactly to delete this task.")
        return value


KEPT_KEY_HELP = (
    "The validation key you typed is kept on the server (it is never shown) and is saved if you "
    "leave this field empty. Type a new key to replace it, or Cancel to forget it."
)


class ConnectionInfoForm(ChangeForm):
    """The connection info. The typed validation key is never rendered back into the page (the input
    never gets a ``value``): after a failed save the view keeps it server-side and passes it back as
    ``kept_key``, which an empty key field then stands for (see ``tasks_ui.drafts.kept_key_get``)."""

    api_host = forms.URLField(label="API host", max_length=500, assume_scheme="https")
    key_id = forms.CharField(label="Validation key id", max_length=200)
    key_name = forms.CharField(label="Validation key name", max_length=200)
    key = forms.CharField(label="Validation key", max_length=500, widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args: Any, kept_key: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_key = ""
        if kept_key:
            self.mark_key_kept(kept_key)

    def mark_key_kept(self, key: str) -> None:
        """Let an empty key field stand for ``key`` and say so next to the field."""
        self._key_help(key, KEPT_KEY_HELP)

    def forget_kept_key(self) -> None:
        self._key_help("", "")

    def _key_help(self, kept_key: str, help_text: str) -> None:
        self.kept_key = kept_key
        self.fields["key"].required = not kept_key
        # The bound field copied the help text when validation first touched it: update both.
        self.fields["key"].help_text = self["key"].help_text = help_text

    def clean_key(self) -> str:
        # Only reached empty when a key is kept (otherwise the field is required).
        return self.cleaned_data.get("key") or self.kept_key

    def clean_api_host(self) -> str:
        value = self.cleaned_data["api_host"]
        if urlsplit(value).scheme not in {"http", "https"}:
            raise forms.ValidationError("Enter an http:// or https:// URL.")
        return value.rstrip("/")

    def put_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "api_host": data["api_host"],
            "validation_key": {"id": data["key_id"], "name": data["key_name"], "key": data["key"]},
        }

    API_FIELDS: ClassVar[dict[str, str]] = {"api_host": "api_host", "id": "key_id", "name": "key_name", "key": "key"}


class TryItForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000)
    response = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=20_000,
        help_text="Optional: also check a response.",
    )
