"""Browser helpers for the console tests: signing in through the local login form, axe-core, screenshots.

Every function runs on the Playwright thread (call them through ``ChromiumThread.run``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING_IMPACTS = ("serious", "critical")


def console_login(page: Any, state: dict[str, Any], role: str, *, lang: str | None = None) -> None:
    """Open /console, sign in as the local stack's seeded ``role`` (``admin`` or ``host``, from ``local.json``)
    through the authorization server's form, wait until the console shows."""
    from playwright.sync_api import expect

    api_url, username, password = state["api_url"], state[role]["username"], state[role]["password"]
    page.goto(f"{api_url}/console")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-auth", "signed-out")
    page.click("#login-btn")
    page.wait_for_url("**/_local/oauth2/authorize**")
    if lang is not None:
        expect(page.locator("html")).to_have_attribute("lang", lang)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/console")
    expect(page.locator("body")).to_have_attribute("data-auth", "signed-in")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#whoami")).not_to_be_empty()


def open_tab(page: Any, view: str) -> None:
    """Switch the console to a section and wait until it is shown."""
    from playwright.sync_api import expect

    page.click(f".nav-tab[data-view='{view}']")
    expect(page.locator(f"#view-{view}")).to_be_visible()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now (needs a context with bypass_csp:
    the pages' CSP allows no inline script, and add_script_tag injects one)."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def small_tap_targets(page: Any, minimum: int = 44) -> list[str]:
    """Visible buttons, selects, inputs and summary elements (and labels wrapping checkboxes) smaller than
    ``minimum`` CSS pixels in height; links inside text are exempt, as in WCAG 2.5.8."""
    return list(
        page.evaluate(
            """(minimum) => {
                const found = [];
                const controls = document.querySelectorAll(
                  'button, select, summary, label.check-target, ' +
                  'input:not([type=checkbox]):not([type=radio]):not([type=hidden])');
                for (const element of controls) {
                  const box = element.getBoundingClientRect();
                  if (!box.width || !box.height || element.closest('[hidden]')) continue;
                  const name = `${element.tagName.toLowerCase()}#${element.id || ''}.${element.className}`;
                  if (box.height < minimum - 0.5) found.push(`${name}: ${Math.round(box.height)} px`);
                }
                return found;
            }""",
            minimum,
        )
    )


def docs_screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """``docs/screenshots/console-<name>.png`` (console views only: never a camera picture)."""
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


def admin_call(state: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A JSON call to the local stack with the admin token of ``local.json``."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{state['api_url']}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {state['admin']['token']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
