"""Bad input: schemathesis over every API operation, as an admin and as a viewer. The suite runs a
short version (FUZZ_EXAMPLES per operation and mode, default 6); `make fuzz` runs the long one."""

from __future__ import annotations

import os

import pytest

from tests.security.fuzz import fuzz_api

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))


def operation_count() -> int:
    from controlplane.api import api

    return sum(len(operations) for operations in api.get_openapi_schema()["paths"].values())


@pytest.mark.parametrize("identity", ["admin@example.com", "viewer@example.com"])
def test_every_operation_answers_without_5xx_and_as_documented(local_arthur, api_token, identity) -> None:
    report = fuzz_api(local_arthur, api_token(identity), max_examples=EXAMPLES)
    print(f"fuzz {identity}: {report.examples} examples, {report.server_errors} 5xx, {len(report.failures)} failing")
    for label, message in report.failures.items():
        print("FAIL", label, " | ".join(line.strip() for line in message.splitlines() if line.strip())[:600])
    # Every operation of the document ran, with valid and with invalid requests.
    assert len(report.per_operation) == 2 * operation_count()
    assert min(report.per_operation.values()) >= 1, report.per_operation
    assert report.server_errors == 0, report.failures
    assert report.failures == {}
