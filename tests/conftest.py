"""Suite-wide fixtures. Settings run in test mode (throwaway secrets): see DASHBOARD_MODE."""

from __future__ import annotations

import os

os.environ.setdefault("DASHBOARD_MODE", "test")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # PostgreSQL tests skip only when DATABASE_URL is unset (CI sets it).
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
