"""In chromium: sign in through Local Arthur's sign-in page, see your name, sign out, be asked to sign in again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from accounts.models import ArthurAccount

DASHBOARD_SIGN_IN = "Sign in with Arthur"


def test_sign_in_through_local_arthur_then_sign_out(page: Page, local_arthur: str, artifacts_dir) -> None:
    page.goto(local_arthur + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login\?next=(%2F|/)$"))
    page.get_by_role("button", name=DASHBOARD_SIGN_IN).click()

    # Local Arthur's own sign-in page.
    expect(page.get_by_role("heading", name="Sign in to Local Arthur")).to_be_visible()
    assert page.url.startswith(local_arthur + "/api/v1/auth/oidc/login")
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill("arthur-demo")
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Back on the dashboard home, signed in.
    expect(page).to_have_url(local_arthur + "/")
    expect(page.locator(".who-name")).to_have_text("Eddie Editor")
    page.screenshot(path=str(artifacts_dir / "signin-home.png"), full_page=True)
    account = ArthurAccount.objects.get(user__email="editor@example.com")
    assert account.access_token and account.refresh_token and account.id_token
    for cookie in page.context.cookies():
        assert account.access_token not in cookie["value"]
        assert account.refresh_token not in cookie["value"]

    page.get_by_role("button", name="Sign out").click()

    # Signed out of both: the dashboard asks for sign-in again...
    expect(page).to_have_url(re.compile(r"/accounts/login\?next=(%2F|/)$"))
    expect(page.get_by_role("button", name=DASHBOARD_SIGN_IN)).to_be_visible()
    expect(page.locator(".who-name")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "signin-signed-out.png"), full_page=True)
    account.refresh_from_db()
    assert (account.access_token, account.refresh_token) == ("", "")
    # ...and so does Local Arthur (its session ended through the end-session endpoint).
    page.get_by_role("button", name=DASHBOARD_SIGN_IN).click()
    expect(page.get_by_role("heading", name="Sign in to Local Arthur")).to_be_visible()
