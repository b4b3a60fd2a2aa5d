"""Shared steps of the dashboard browser tests (not a test module)."""

from __future__ import annotations

from django.conf import settings
from playwright.sync_api import Page, expect


def sign_in(page: Page, base_url: str, email: str, *, next_path: str = "/") -> None:
    """Sign in through the dashboard's button and Local Arthur's own sign-in page, as a person would."""
    page.goto(base_url + next_path)
    expect(page).to_have_title("Sign in · Arthur Tasks")
    page.get_by_role("button", name="Sign in with Arthur").click()
    expect(page).to_have_title("Sign in · Local Arthur")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(settings.LOCAL_ARTHUR_DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + next_path)
