"""The app shell loads in chromium with htmx running."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def test_shell_has_title_and_htmx(page: Page, live_server, artifacts_dir) -> None:
    page.goto(live_server.url + "/")
    # "/" needs sign-in, so an anonymous visit lands on "Sign in · Arthur Tasks".
    expect(page).to_have_title(re.compile(r"Arthur Tasks$"))
    assert page.evaluate("typeof window.htmx === 'object' && typeof window.htmx.version === 'string'")
    assert page.evaluate("window.htmx.version").startswith("2.")
    # The CSRF header is set once, on <body>, for every htmx request.
    assert "x-csrftoken" in page.locator("body").get_attribute("hx-headers")
    page.screenshot(path=str(artifacts_dir / "shell.png"), full_page=True)
