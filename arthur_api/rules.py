"""The GenAI engine's rule constraints and messages, as one pure module.

The control plane uses it to reject malformed ``rules_to_add`` eagerly (422), the data-plane agent to
refuse a rule exactly as the engine would (the job fails with the engine's message), and the dashboard's
forms to say what is wrong before anything is sent. Only the standard library is used, so importing it
never drags Django or HTTP code along.

The rules and messages follow arthur-common's ``NewRuleRequest`` validators and the engine's
``rules_schema_utils`` config checkers (reference: arthur-platform.md §1.4). Where the engine answers
with one message at a time, the validators here report every problem they find, the engine's first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYWORD = "KeywordRule"
REGEX = "RegexRule"
PII = "PIIDataRule"
TOXICITY = "ToxicityRule"
PROMPT_INJECTION = "PromptInjectionRule"
HALLUCINATION = "ModelHallucinationRuleV2"
SENSITIVE_DATA = "ModelSensitiveDataRule"

# The engine's RuleType enum, in the order the engine UI offers them when creating a rule.
RULE_TYPES: tuple[str, ...] = (
    PROMPT_INJECTION,
    HALLUCINATION,
    TOXICITY,
    KEYWORD,
    REGEX,
    PII,
    SENSITIVE_DATA,
)
# Rules the engine evaluates with a model or an LLM judge (everything else is pattern matching).
MODEL_RULE_TYPES: frozenset[str] = frozenset({TOXICITY, PROMPT_INJECTION, HALLUCINATION, SENSITIVE_DATA})
# Rules whose config is ignored by the engine (stored and returned as null).
CONFIGLESS_RULE_TYPES: frozenset[str] = frozenset({PROMPT_INJECTION, HALLUCINATION})

RULE_SCOPES: tuple[str, ...] = ("default", "task")

# Presidio entity names, in arthur-common's PIIEntityTypes order (17).
PII_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "DATE_TIME",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "NRP",
    "LOCATION",
    "PERSON",
    "PHONE_NUMBER",
    "MEDICAL_LICENSE",
    "URL",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
    "US_SSN",
)

DEFAULT_TOXICITY_THRESHOLD = 0.5
DEFAULT_PII_CONFIDENCE_THRESHOLD = 0.0

# The engine's messages (arthur-common NewRuleRequest, engine constants and config checkers).
MSG_CONFIG_REQUIRED = "This rule must be created with a config parameter"
MSG_REGEX_REQUIRED = "regex_patterns must be provided"
MSG_INVALID_REGEX = "Invalid regex: %s"
MSG_EXAMPLES_REQUIRED = "Examples must be provided to onboard a ModelSensitiveDataRule"
MSG_TOXICITY_RANGE = '"threshold" must be between 0 and 1'
MSG_PII_CONFIDENCE_RANGE = '"confidence_threshold" must be between 0 and 1'
MSG_PII_UNKNOWN = "The following values are not valid PII entities: %s"
MSG_PII_ALL_DISABLED = "Cannot disable all supported PII entities on PIIDataRule"
MSG_SENSITIVE_PROMPT_ONLY = (
    "ModelSensitiveDataRule can only be enabled for prompt. Please set the 'apply_to_response' field to false."
)
MSG_INJECTION_PROMPT_ONLY = (
    "PromptInjectionRule can only be enabled for prompt. Please set the 'apply_to_response' field to false."
)
MSG_HALLUCINATION_RESPONSE_ONLY = (
    "ModelHallucinationRuleV2 can only be enabled for response. Please set the 'apply_to_prompt' field to false."
)
MSG_PROMPT_OR_RESPONSE = "Rule must be either applied to the prompt or to the response."
MSG_UNKNOWN_TYPE = "Unknown rule type: %s"
# The engine words this for task names; rule names get the same treatment here.
MSG_BLANK_NAME = "Rule names cannot contain only white space characters"
MSG_DEFAULT_RULE_ARCHIVE = "Default rules cannot be deleted. To disable a default rule, use patch instead."
MSG_UNRELATED_RULE = "This rule id is not associated with this task."

_CONFIG_KEYS: dict[str, frozenset[str]] = {
    KEYWORD: frozenset({"keywords"}),
    REGEX: frozenset({"regex_patterns"}),
    TOXICITY: frozenset({"threshold"}),
    PII: frozenset({"disabled_pii_entities", "confidence_threshold", "allow_list"}),
    SENSITIVE_DATA: frozenset({"examples", "hint"}),
}
# arthur-common forbids unknown keys on these configs (the others ignore them).
_CLOSED_CONFIGS = frozenset({REGEX, TOXICITY, PII})


@dataclass(frozen=True)
class RuleProblem:
    """One reason a rule is refused: where (a FastAPI-style ``loc``), the engine's message, and a kind.

    ``type`` follows pydantic's error types (``missing``, ``bool_type``, ``value_error``…) so a
    control plane can put the problem straight into a 422 ``detail`` list.
    """

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_detail(self) -> dict[str, Any]:
        """This problem as one item of a FastAPI 422 body."""
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class RuleRejected(ValueError):
    """A rule the engine would refuse; ``problems`` lists why, the engine's own message first."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__(problems[0].msg if problems else "invalid rule")


def validate_new_rule(data: Any, *, loc: tuple[str | int, ...] = ()) -> list[RuleProblem]:
    """Check one ``NewRuleRequest`` (a dict as decoded from JSON) against the engine's constraints.

    Returns every problem found (an empty list means the engine would accept the rule); each
    problem's ``loc`` starts with ``loc``. Never raises for bad input, whatever its shape.
    """
    if not isinstance(data, Mapping):
        return [RuleProblem(loc, "Input should be a valid dictionary or object", "dict_type")]
    problems: list[RuleProblem] = []
    problems += _check_name(data, loc)
    rule_type = data.get("type")
    if "type" not in data:
        problems.append(RuleProblem((*loc, "type"), "Field required", "missing"))
    elif not isinstance(rule_type, str):
        problems.append(RuleProblem((*loc, "type"), "Input should be a valid string", "string_type"))
    elif rule_type not in RULE_TYPES:
        problems.append(RuleProblem((*loc, "type"), MSG_UNKNOWN_TYPE % rule_type))
    flags_ok = True
    for flag in ("apply_to_prompt", "apply_to_response"):
        if flag not in data:
            problems.append(RuleProblem((*loc, flag), "Field required", "missing"))
            flags_ok = False
        elif not isinstance(data[flag], bool):
            problems.append(RuleProblem((*loc, flag), "Input should be a valid boolean", "bool_type"))
            flags_ok = False
    if rule_type in RULE_TYPES:
        problems += _check_config(rule_type, data.get("config"), (*loc, "config"))
        if flags_ok:
            problems += _check_prompt_or_response(rule_type, data, loc)
    return problems


def validate_rules(rules: Any, *, loc: tuple[str | int, ...] = ("body", "rules_to_add")) -> list[RuleProblem]:
    """Check a list of ``NewRuleRequest`` dicts; each problem's ``loc`` carries the rule's index.

    Returns an empty list when every rule would be accepted; never raises.
    """
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [RuleProblem(loc, "Input should be a valid list", "list_type")]
    problems: list[RuleProblem] = []
    for index, rule in enumerate(rules):
        problems += validate_new_rule(rule, loc=(*loc, index))
    return problems


def clean_new_rule(data: Any) -> dict[str, Any]:
    """A valid ``NewRuleRequest`` in the engine's canonical form (config completed with its defaults).

    Raises `RuleRejected` (its message is the engine's first complaint) when the rule is invalid.
    """
    problems = validate_new_rule(data)
    if problems:
        raise RuleRejected(problems)
    return {
        "name": data["name"],
        "type": data["type"],
        "apply_to_prompt": data["apply_to_prompt"],
        "apply_to_response": data["apply_to_response"],
        "config": canonical_config(data["type"], data.get("config")),
    }


def canonical_config(rule_type: str, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The config as the engine stores and returns it for ``rule_type`` (assumes it is valid).

    Toxicity gets its 0.5 default, PII lists become ``[]`` and its threshold a float, sensitive-data
    examples always carry ``hint`` (``""`` when unset); prompt-injection and hallucination rules have
    no config (``None``).
    """
    config = dict(config or {})
    if rule_type in CONFIGLESS_RULE_TYPES:
        return None
    if rule_type == KEYWORD:
        return {"keywords": list(config.get("keywords") or [])}
    if rule_type == REGEX:
        return {"regex_patterns": list(config.get("regex_patterns") or [])}
    if rule_type == TOXICITY:
        threshold = config.get("threshold")
        return {"threshold": float(DEFAULT_TOXICITY_THRESHOLD if threshold is None else threshold)}
    if rule_type == PII:
        threshold = config.get("confidence_threshold")
        return {
            "disabled_pii_entities": list(config.get("disabled_pii_entities") or []),
            "confidence_threshold": float(DEFAULT_PII_CONFIDENCE_THRESHOLD if threshold is None else threshold),
            "allow_list": list(config.get("allow_list") or []),
        }
    if rule_type == SENSITIVE_DATA:
        return {
            "examples": [
                {"example": item["example"], "result": item["result"]} for item in config.get("examples") or []
            ],
            "hint": config.get("hint") or "",
        }
    raise ValueError(MSG_UNKNOWN_TYPE % rule_type)


def _check_name(data: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if "name" not in data:
        return [RuleProblem((*loc, "name"), "Field required", "missing")]
    name = data["name"]
    if not isinstance(name, str):
        return [RuleProblem((*loc, "name"), "Input should be a valid string", "string_type")]
    if not name.strip():
        return [RuleProblem((*loc, "name"), MSG_BLANK_NAME)]
    return []


def _check_prompt_or_response(rule_type: str, data: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    # Same order as arthur-common's check_prompt_or_response: the engine reports the first one.
    prompt, response = data["apply_to_prompt"], data["apply_to_response"]
    if rule_type == SENSITIVE_DATA and response:
        return [RuleProblem((*loc, "apply_to_response"), MSG_SENSITIVE_PROMPT_ONLY)]
    if rule_type == PROMPT_INJECTION and response:
        return [RuleProblem((*loc, "apply_to_response"), MSG_INJECTION_PROMPT_ONLY)]
    if rule_type == HALLUCINATION and prompt:
        return [RuleProblem((*loc, "apply_to_prompt"), MSG_HALLUCINATION_RESPONSE_ONLY)]
    if not prompt and not response:
        return [RuleProblem(loc, MSG_PROMPT_OR_RESPONSE)]
    return []


def _check_config(rule_type: str, config: Any, loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if rule_type in CONFIGLESS_RULE_TYPES:
        return []
    if config is None:
        if rule_type in (KEYWORD, REGEX):
            return [RuleProblem(loc, MSG_CONFIG_REQUIRED)]
        config = {}
    if not isinstance(config, Mapping):
        return [RuleProblem(loc, "Input should be a valid dictionary or object", "dict_type")]
    problems: list[RuleProblem] = []
    if rule_type in _CLOSED_CONFIGS:
        extra = sorted(set(config) - _CONFIG_KEYS[rule_type])
        problems += [RuleProblem((*loc, key), "Extra inputs are not permitted", "extra_forbidden") for key in extra]
    checker = {
        KEYWORD: _check_keywords,
        REGEX: _check_regex,
        TOXICITY: _check_toxicity,
        PII: _check_pii,
        SENSITIVE_DATA: _check_examples,
    }[rule_type]
    return problems + checker(config, loc)


def _string_list(value: Any, loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if not isinstance(value, list):
        return [RuleProblem(loc, "Input should be a valid list", "list_type")]
    return [
        RuleProblem((*loc, index), "Input should be a valid string", "string_type")
        for index, item in enumerate(value)
        if not isinstance(item, str)
    ]


def _number(value: Any) -> float | None:
    """A JSON number (or numeric string, as pydantic's lax mode allows) as a float; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _check_keywords(config: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if "keywords" not in config:
        return [RuleProblem((*loc, "keywords"), "Field required", "missing")]
    return _string_list(config["keywords"], (*loc, "keywords"))


def _check_regex(config: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if "regex_patterns" not in config:
        return [RuleProblem((*loc, "regex_patterns"), "Field required", "missing")]
    patterns = config["regex_patterns"]
    problems = _string_list(patterns, (*loc, "regex_patterns"))
    if problems:
        return problems
    if not patterns:
        return [RuleProblem((*loc, "regex_patterns"), MSG_REGEX_REQUIRED)]
    for index, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error:
            problems.append(RuleProblem((*loc, "regex_patterns", index), MSG_INVALID_REGEX % pattern))
    return problems


def _check_toxicity(config: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    threshold = config.get("threshold")
    if threshold is None:
        return []
    number = _number(threshold)
    if number is None:
        return [RuleProblem((*loc, "threshold"), "Input should be a valid number", "float_type")]
    if not 0 <= number <= 1:
        return [RuleProblem((*loc, "threshold"), MSG_TOXICITY_RANGE)]
    return []


def _check_pii(config: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    disabled = config.get("disabled_pii_entities")
    if disabled is not None:
        list_problems = _string_list(disabled, (*loc, "disabled_pii_entities"))
        problems += list_problems
        if not list_problems:
            unknown = sorted(set(disabled) - set(PII_ENTITIES))
            if unknown:
                shown = "{" + ", ".join(repr(name) for name in unknown) + "}"
                problems.append(RuleProblem((*loc, "disabled_pii_entities"), MSG_PII_UNKNOWN % shown))
            elif len(set(disabled)) == len(PII_ENTITIES):
                problems.append(RuleProblem((*loc, "disabled_pii_entities"), MSG_PII_ALL_DISABLED))
    threshold = config.get("confidence_threshold")
    if threshold is not None:
        number = _number(threshold)
        if number is None:
            problems.append(RuleProblem((*loc, "confidence_threshold"), "Input should be a valid number", "float_type"))
        elif not 0 <= number <= 1:
            problems.append(RuleProblem((*loc, "confidence_threshold"), MSG_PII_CONFIDENCE_RANGE))
    allow_list = config.get("allow_list")
    if allow_list is not None:
        problems += _string_list(allow_list, (*loc, "allow_list"))
    return problems


def _check_examples(config: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if "examples" not in config:
        return [RuleProblem((*loc, "examples"), "Field required", "missing")]
    examples = config["examples"]
    if not isinstance(examples, list):
        return [RuleProblem((*loc, "examples"), "Input should be a valid list", "list_type")]
    problems: list[RuleProblem] = []
    for index, example in enumerate(examples):
        problems += _check_example(example, (*loc, "examples", index))
    hint = config.get("hint")
    if hint is not None and not isinstance(hint, str):
        problems.append(RuleProblem((*loc, "hint"), "Input should be a valid string", "string_type"))
    if not problems and not examples:
        problems.append(RuleProblem((*loc, "examples"), MSG_EXAMPLES_REQUIRED))
    return problems


def _check_example(example: Any, loc: tuple[str | int, ...]) -> list[RuleProblem]:
    if not isinstance(example, Mapping):
        return [RuleProblem(loc, "Input should be a valid dictionary or object", "dict_type")]
    problems: list[RuleProblem] = []
    if not isinstance(example.get("example"), str):
        kind = "missing" if "example" not in example else "string_type"
        text = "Field required" if kind == "missing" else "Input should be a valid string"
        problems.append(RuleProblem((*loc, "example"), text, kind))
    if not isinstance(example.get("result"), bool):
        kind = "missing" if "result" not in example else "bool_type"
        text = "Field required" if kind == "missing" else "Input should be a valid boolean"
        problems.append(RuleProblem((*loc, "result"), text, kind))
    return problems
