"""Fixtures for the control-plane tests: the official arthur-client pointed at Local Arthur."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from arthur_client.api_bindings import ApiClient, Configuration


@pytest.fixture
def arthur(local_arthur, api_token) -> Callable[[str], ApiClient]:
    """`arthur("viewer@example.com")` → an official-client ApiClient with that identity's token."""

    def make(identity: str) -> ApiClient:
        return ApiClient(Configuration(host=local_arthur, access_token=api_token(identity)))

    return make
