"""The engine's rule constraints and messages (arthur_api.rules)."""

from __future__ import annotations

import pytest

from arthur_api import rules


def rule(**overrides):
    base = {
        "name": "Blocked words",
        "type": "KeywordRule",
        "apply_to_prompt": True,
        "apply_to_response": True,
        "config": {"keywords": ["secret"]},
    }
    base.update(overrides)
    return base


def messages(problems):
    return [problem.msg for problem in problems]


VALID = [
    rule(),
    rule(type="RegexRule", config={"regex_patterns": [r"\d{3}-\d{2}-\d{4}"]}),
    rule(type="ToxicityRule", config=None),
    rule(type="ToxicityRule", config={"threshold": 0}),
    rule(type="ToxicityRule", config={"threshold": 1}),
    rule(type="PIIDataRule", config=None),
    rule(type="PIIDataRule", config={"disabled_pii_entities": list(rules.PII_ENTITIES[:16]), "allow_list": ["a"]}),
    rule(type="PromptInjectionRule", apply_to_response=False, config=None),
    rule(type="ModelHallucinationRuleV2", apply_to_prompt=False, config=None),
    rule(
        type="ModelSensitiveDataRule",
        apply_to_response=False,
        config={"examples": [{"example": "John is O negative", "result": True}], "hint": "blood"},
    ),
]


@pytest.mark.parametrize("data", VALID, ids=lambda data: data["type"])
def test_rules_the_engine_accepts_have_no_problem(data):
    assert rules.validate_new_rule(data) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (rule(config=None), "This rule must be created with a config parameter"),
        (rule(type="RegexRule", config=None), "This rule must be created with a config parameter"),
        (rule(type="RegexRule", config={"regex_patterns": []}), "regex_patterns must be provided"),
        (rule(type="RegexRule", config={"regex_patterns": ["ok", "(unclosed"]}), "Invalid regex: (unclosed"),
        (rule(type="ToxicityRule", config={"threshold": 1.5}), '"threshold" must be between 0 and 1'),
        (rule(type="ToxicityRule", config={"threshold": -0.1}), '"threshold" must be between 0 and 1'),
        (
            rule(type="PIIDataRule", config={"disabled_pii_entities": ["EMAIL_ADDRESS", "SHOE_SIZE"]}),
            "The following values are not valid PII entities: {'SHOE_SIZE'}",
        ),
        (
            rule(type="PIIDataRule", config={"disabled_pii_entities": list(rules.PII_ENTITIES)}),
            "Cannot disable all supported PII entities on PIIDataRule",
        ),
        (
            rule(type="PIIDataRule", config={"confidence_threshold": 2}),
            '"confidence_threshold" must be between 0 and 1',
        ),
        (
            rule(type="PromptInjectionRule", config=None),
            "PromptInjectionRule can only be enabled for prompt. Please set the 'apply_to_response' field to false.",
        ),
        (
            rule(type="ModelHallucinationRuleV2", config=None),
            "ModelHallucinationRuleV2 can only be enabled for response. "
            "Please set the 'apply_to_prompt' field to false.",
        ),
        (
            rule(type="ModelSensitiveDataRule", config={"examples": [{"example": "x", "result": True}]}),
            "ModelSensitiveDataRule can only be enabled for prompt. Please set the 'apply_to_response' field to false.",
        ),
        (
            rule(type="ModelSensitiveDataRule", apply_to_response=False, config={"examples": []}),
            "Examples must be provided to onboard a ModelSensitiveDataRule",
        ),
        (
            rule(type="ModelSensitiveDataRule", apply_to_response=False, config=None),
            "Field required",
        ),
        (
            rule(apply_to_prompt=False, apply_to_response=False),
            "Rule must be either applied to the prompt or to the response.",
        ),
        (rule(type="ModelHallucinationRule"), "Unknown rule type: ModelHallucinationRule"),
        (rule(name="   "), "Rule names cannot contain only white space characters"),
    ],
)
def test_the_engine_message_comes_first(data, message):
    problems = rules.validate_new_rule(data)
    assert problems, "the engine refuses this rule"
    assert problems[0].msg == message


def test_extra_config_keys_are_forbidden_where_the_engine_forbids_them():
    problems = rules.validate_new_rule(rule(type="RegexRule", config={"regex_patterns": ["a"], "keywords": ["x"]}))
    assert [(p.loc, p.type) for p in problems] == [(("config", "keywords"), "extra_forbidden")]
    # The keyword config ignores unknown keys (arthur-common does not forbid them there).
    assert rules.validate_new_rule(rule(config={"keywords": ["a"], "other": 1})) == []


def test_missing_and_mistyped_fields_get_pydantic_style_problems():
    problems = rules.validate_new_rule({"type": "KeywordRule", "apply_to_prompt": "yes", "config": {"keywords": [1]}})
    assert {(p.loc, p.type) for p in problems} == {
        (("name",), "missing"),
        (("apply_to_prompt",), "bool_type"),
        (("apply_to_response",), "missing"),
        (("config", "keywords", 0), "string_type"),
    }
    assert rules.validate_new_rule("not a rule")[0].type == "dict_type"


def test_validate_rules_locates_each_problem_by_index():
    problems = rules.validate_rules([rule(), rule(type="RegexRule", config={"regex_patterns": ["("]})])
    assert [p.as_detail() for p in problems] == [
        {
            "loc": ["body", "rules_to_add", 1, "config", "regex_patterns", 0],
            "msg": "Invalid regex: (",
            "type": "value_error",
        }
    ]
    assert rules.validate_rules(None) == []
    assert rules.validate_rules({"a": 1})[0].type == "list_type"


def test_clean_new_rule_fills_the_engine_defaults():
    assert rules.clean_new_rule(rule(type="ToxicityRule", config=None))["config"] == {"threshold": 0.5}
    assert rules.clean_new_rule(rule(type="PIIDataRule", config={"allow_list": ["Arthur"]}))["config"] == {
        "disabled_pii_entities": [],
        "confidence_threshold": 0.0,
        "allow_list": ["Arthur"],
    }
    assert (
        rules.clean_new_rule(rule(type="PromptInjectionRule", apply_to_response=False, config={"x": 1}))["config"]
        is None
    )
    sensitive = rules.clean_new_rule(
        rule(
            type="ModelSensitiveDataRule",
            apply_to_response=False,
            config={"examples": [{"example": "e", "result": False}]},
        )
    )
    assert sensitive["config"] == {"examples": [{"example": "e", "result": False}], "hint": ""}


def test_clean_new_rule_raises_with_the_engine_message():
    with pytest.raises(rules.RuleRejected, match=r"^Invalid regex: \[$"):
        rules.clean_new_rule(rule(type="RegexRule", config={"regex_patterns": ["["]}))


def test_constants_match_the_engine():
    assert len(rules.PII_ENTITIES) == 17 == len(set(rules.PII_ENTITIES))
    assert set(rules.RULE_TYPES) == {
        "KeywordRule",
        "ModelHallucinationRuleV2",
        "ModelSensitiveDataRule",
        "PIIDataRule",
        "PromptInjectionRule",
        "RegexRule",
        "ToxicityRule",
    }
