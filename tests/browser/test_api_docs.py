"""The API docs page (Swagger UI from our own static files) renders under the strict CSP."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_swagger_ui_renders_every_operation_without_csp_violations(page: Page, local_arthur, artifacts_dir) -> None:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "(window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = page.goto(local_arthur + "/api/v1/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    operations = page.locator(".opblock").count()
    # Opening an operation renders its parameters and example responses (syntax-highlighted).
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body .responses-wrapper").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=True)
    assert operations >= 36
    assert violations == []
    assert page.evaluate("window.__cspViolations || []") == []
