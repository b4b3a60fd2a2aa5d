"""Sign a person in through the real flow, as a browser would, and hand back the session's cookies."""

from __future__ import annotations

import html
import re

import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
NEXT = re.compile(r'name="next" value="([^"]*)"')


class SignInFailed(RuntimeError):
    """The sign-in flow did not end on the dashboard, signed in."""


def sign_in(web_url: str, *, email: str, password: str) -> requests.Session:
    """Dashboard sign-in button → the provider's own sign-in form (with its CSRF token) → callback.

    Returns the browser-like session holding the dashboard's cookies. Raises SignInFailed when a
    step does not answer as a browser would expect.
    """
    browser = requests.Session()
    page = browser.get(f"{web_url}/accounts/login", params={"next": "/"}, timeout=30)
    to_provider = browser.post(
        f"{web_url}/accounts/login",
        data={"csrfmiddlewaretoken": _match(CSRF, page.text, "dashboard sign-in form"), "next": "/"},
        headers={"Referer": page.url},
        timeout=30,
    )
    if "/api/v1/auth/oidc/login" not in to_provider.url:
        raise SignInFailed(f"the dashboard did not send us to the provider's sign-in form ({to_provider.url})")
    landed = browser.post(
        to_provider.url,
        data={
            "csrfmiddlewaretoken": _match(CSRF, to_provider.text, "provider sign-in form"),
            "email": email,
            "password": password,
            "next": html.unescape(_match(NEXT, to_provider.text, "provider sign-in form")),
        },
        headers={"Referer": to_provider.url},
        timeout=30,
    )
    if landed.status_code != 200 or landed.url.rstrip("/") != web_url.rstrip("/"):
        raise SignInFailed(f"sign-in ended at {landed.url} ({landed.status_code}), not the dashboard home")
    return browser


def cookie_header(browser: requests.Session, web_url: str) -> str:
    """The ``Cookie`` header the browser would send to the dashboard (its session and CSRF cookies)."""
    prepared = browser.prepare_request(requests.Request("GET", f"{web_url}/"))
    return prepared.headers.get("Cookie", "")


def _match(pattern: re.Pattern[str], text: str, where: str) -> str:
    found = pattern.search(text)
    if found is None:
        raise SignInFailed(f"no {pattern.pattern!r} in the {where}")
    return found.group(1)
