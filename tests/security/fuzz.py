"""Schemathesis against Local Arthur's OpenAPI document, one operation at a time.

`fuzz_api` drives every operation with generated requests (valid ones and, with `negative`, invalid
ones), half of them aimed at ids that exist so handlers get past the 404, and collects every check
failure instead of stopping at the first: a run reports how many examples it sent and what broke.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

# What the issue asks of every response: no 5xx, a documented status and content type, a body that
# matches the documented schema, and invalid input refused with a 4xx.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class FuzzReport:
    """What one run did: examples sent (in all and per operation and mode), 5xx answers, and the
    failures (operation and mode → first message)."""

    examples: int = 0
    server_errors: int = 0
    per_operation: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def known_ids() -> dict[str, list[str]]:
    """Ids of existing resources by path-parameter name (read from the live server's database)."""
    from controlplane.identity.models import DataPlane, Workspace
    from controlplane.models import Connector, Dataset, Job, JobRun, PlatformModel, Project

    def ids(queryset: Iterable) -> list[str]:
        return [str(pk) for pk in queryset]

    return {
        "project_id": ids(Project.objects.values_list("id", flat=True)),
        "model_id": ids(PlatformModel.objects.values_list("id", flat=True)),
        "job_id": ids(Job.objects.values_list("id", flat=True)),
        "job_run_id": ids(JobRun.objects.values_list("id", flat=True)),
        "connector_id": ids(Connector.objects.values_list("id", flat=True)),
        "dataset_id": ids(Dataset.objects.values_list("id", flat=True)),
        "workspace_id": ids(Workspace.objects.values_list("id", flat=True)),
        "data_plane_id": ids(DataPlane.objects.values_list("id", flat=True)),
    }


def fuzz_api(base_url: str, token: str, *, max_examples: int, negative: bool = True) -> FuzzReport:
    """Fuzz every operation of ``{base_url}/api/v1/openapi.json`` as the bearer of `token`.

    Never raises for a failing check: failures land in the report (one message per operation and
    generation mode), so a single run shows everything that is wrong.
    """
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    ids = known_ids()
    report = FuzzReport()
    headers = {"Authorization": f"Bearer {token}"}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if negative else [GenerationMode.POSITIVE]
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            label = f"{operation.label} [{mode.value}]"
            before = report.examples
            try:
                _fuzz_operation(operation, mode, base_url, headers, ids, report, max_examples)
            except (Exception, BaseExceptionGroup) as error:  # a failing check, kept with its operation
                report.failures[label] = f"{type(error).__name__}: {str(error)[:1500]}"
            report.per_operation[label] = report.examples - before
    return report


def _fuzz_operation(operation, mode, base_url, headers, ids, report, max_examples) -> None:
    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported as is
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case, data) -> None:
        # A negative path stays as generated (its invalid id is the point); otherwise half the
        # examples aim at ids that exist, so handlers get past their 404.
        path_is_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
        for name in [] if path_is_negative else list(case.path_parameters or {}):
            if ids.get(name) and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(ids[name]), label=name)
        # A case whose headers are the negative part (usually: no Authorization) goes without the
        # token, or a request made valid again would count as "invalid data accepted".
        headers_are_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        sent = {} if headers_are_negative else headers
        report.examples += 1
        response = case.call(base_url=base_url, headers=sent, timeout=30)
        if response.status_code >= 500:
            report.server_errors += 1
        case.validate_response(response, checks=CHECKS, headers=sent)

    run()

