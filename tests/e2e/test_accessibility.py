"""axe-core (npm, ``node_modules/axe-core``) on every page of the running local stack, in Chromium: the console
(signed out, its login form, every section as an admin and as a host), the visitor page (notice and camera) and
the kiosk (pairing). No violation of impact ``serious`` or ``critical`` (WCAG 2.0-2.2 A/AA and best practices),
at desktop width and at 360 px, and every control of the console and the kiosk at least 44 px tall.

axe is injected with ``page.add_script_tag``; the pages' Content-Security-Policy allows no inline script, so
these contexts bypass CSP (the other e2e tests check the policy itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fakecam
import pytest
from console_support import AXE, admin_call, axe_violations, console_login, open_tab, small_tap_targets
from PIL import Image
from stack_client import STACK_CLIENT

if TYPE_CHECKING:
    from conftest import ChromiumThread, FaceCast

pytestmark = [pytest.mark.e2e]

WIDTHS = (1280, 360)


@pytest.fixture(scope="module")
def grey_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake camera that shows a plain grey picture (no face: these pages only need a running camera)."""
    folder = tmp_path_factory.mktemp("a11y")
    Image.new("RGB", (640, 480), (120, 124, 128)).save(folder / "grey.png")
    return fakecam.write_y4m([folder / "grey.png"], folder / "grey.y4m", frames_per_image=5, fps=10)


@pytest.fixture(scope="module")
def browser(chromium: ChromiumThread, grey_camera: Path) -> Any:
    if not AXE.is_file():
        pytest.skip(f"{AXE} missing: run `make node_modules/.stamp` (npm ci)")
    return chromium.launch(grey_camera)


@pytest.fixture(params=WIDTHS)
def width(request: pytest.FixtureRequest) -> int:
    """Every test runs at each of :data:`WIDTHS`."""
    return int(request.param)


Check = Callable[[str], None]
Audit = Callable[..., None]


@pytest.fixture
def audit(chromium: ChromiumThread, browser: Any, width: int) -> Iterator[Audit]:
    """``audit(steps)``: runs ``steps(page, check)`` in a fresh CSP-bypassing context ``width`` px wide, where
    ``check(name)`` records axe's serious/critical violations (and, with ``taps``, small controls) of the page as
    it is; then asserts that nothing was recorded."""
    contexts: list[Any] = []

    def run(steps: Callable[[Any, Check], None], taps: bool = True) -> None:
        def body() -> dict[str, list[Any]]:
            context = browser.new_context(
                bypass_csp=True, locale="en-US", timezone_id="UTC", viewport={"width": width, "height": 900}
            )
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(30_000)
            found: dict[str, list[Any]] = {}

            def check(name: str) -> None:
                problems: list[Any] = axe_violations(page)
                if taps:
                    problems += small_tap_targets(page)
                if problems:
                    found[f"{name}@{width}"] = problems

            steps(page, check)
            return found

        found = chromium.run(body)
        assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)

    yield run
    chromium.run(lambda: [context.close() for context in contexts])


def fresh_invite(state: dict[str, Any], display_name: str) -> dict[str, Any]:
    """A new invite to the seeded door, valid from a minute ago for two hours (the API's answer)."""
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "door_ids": [state["door_id"]],
        "valid_from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_name": display_name,
    }
    invite: dict[str, Any] = admin_call(state, "POST", f"/sites/{state['site_id']}/invites", body)
    return invite


def test_console_signed_out_and_its_login_form(live_stack: dict[str, Any], audit: Audit) -> None:
    # Given the console of the running stack, signed out
    from playwright.sync_api import expect

    def steps(page: Any, check: Check) -> None:
        page.goto(f"{live_stack['api_url']}/console")
        expect(page.locator("body")).to_have_attribute("data-auth", "signed-out")
        check("console-signed-out")
        # And the login form it leads to, in Korean too
        page.click("#login-btn")
        page.wait_for_url("**/_local/oauth2/authorize**")
        check("login-form-en")
        page.click(".login-lang a")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        check("login-form-ko")

    # When axe checks them, Then nothing serious or critical is found
    audit(steps)


def test_console_every_admin_section(live_stack: dict[str, Any], audit: Audit) -> None:
    # Given an admin signed in to the console
    from playwright.sync_api import expect

    def steps(page: Any, check: Check) -> None:
        console_login(page, live_stack, "admin")
        check("admin-invites")
        for view in ("sites", "terminals", "hosts", "audit"):
            open_tab(page, view)
            check(f"admin-{view}")
        # And the pairing panel with its QR code
        open_tab(page, "terminals")
        page.locator("#terminal-list .item button.primary").first.click()
        expect(page.locator("#pairing")).to_be_visible()
        check("admin-pairing")
        # And the console in Korean
        page.click("#lang-switch")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        check("admin-pairing-ko")

    # When axe checks each section, Then nothing serious or critical is found
    audit(steps)


def test_console_host_invites_and_link(live_stack: dict[str, Any], audit: Audit) -> None:
    # Given the seeded host signed in, who invites a visitor and opens the link panel
    from playwright.sync_api import expect

    def steps(page: Any, check: Check) -> None:
        console_login(page, live_stack, "host")
        expect(page.locator(".nav-tab[data-view='sites']")).to_be_hidden()
        check("host-invites")
        page.fill("#inv-name", "Axe visitor")
        page.click("#invite-send")
        expect(page.locator("#invite-link")).to_be_visible()
        expect(page.locator("#invite-list .item[data-status]").first).to_be_visible()
        check("host-invite-link")

    # When axe checks the page, Then nothing serious or critical is found
    audit(steps)


def test_visitor_page_notice_and_camera(live_stack: dict[str, Any], audit: Audit) -> None:
    # Given a fresh invite's registration link
    invite = fresh_invite(live_stack, "Axe visitor")
    from playwright.sync_api import expect

    def steps(page: Any, check: Check) -> None:
        page.goto(invite["registration_url"])
        expect(page.locator("body")).to_have_attribute("data-view", "notice")
        check("visitor-notice")
        page.check("#consent-checkbox")
        page.check("#consent-biometric")
        page.click("#consent-submit")
        expect(page.locator("body")).to_have_attribute("data-view", "capture")
        check("visitor-capture")

    # When axe checks the notice and the camera step, Then nothing serious or critical is found
    audit(steps, taps=False)


def test_kiosk_pairing_and_ready(live_stack: dict[str, Any], audit: Audit) -> None:
    # Given a fresh kiosk (its settings panel with the pairing form open), then set up by hand
    from playwright.sync_api import expect

    def steps(page: Any, check: Check) -> None:
        page.goto(f"{live_stack['api_url']}/kiosk")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#pair-form")).to_be_visible()
        check("kiosk-pairing")
        page.fill("#pair-code", "NOT-A-CODE")
        page.click("#pair-send")
        expect(page.locator("#pair-status")).to_be_visible()
        check("kiosk-pairing-refused")
        page.fill("#set-door-id", live_stack["door_id"])
        page.fill("#set-key-id", live_stack["terminal"]["key_id"])
        page.fill("#set-secret", live_stack["terminal"]["secret"])
        page.click("#settings-save")
        expect(page.locator("#settings-panel")).to_be_hidden()
        check("kiosk-ready")

    # When axe checks the kiosk, Then nothing serious or critical is found
    audit(steps)


def test_visitor_page_enrolled_and_erased(live_stack: dict[str, Any], face_cast: FaceCast, audit: Audit) -> None:
    # Given a visitor enrolled through the SDK (LFW dev photos), who opens their page again
    from playwright.sync_api import expect

    from facegate_client import VisitorClient

    invite = fresh_invite(live_stack, "Axe enrolled visitor")
    visitor = VisitorClient(invite["registration_url"], **STACK_CLIENT)
    visitor.consent()
    visitor.enroll(list(face_cast.a_enroll))

    def steps(page: Any, check: Check) -> None:
        page.goto(invite["registration_url"])
        expect(page.locator("body")).to_have_attribute("data-view", "enrolled")
        check("visitor-enrolled")
        page.click("#delete-btn")
        check("visitor-delete-confirm")
        page.click("#delete-confirm-btn")
        expect(page.locator("body")).to_have_attribute("data-view", "erased")
        check("visitor-erased")

    # When axe checks the claim code view, the delete confirmation and the receipt, Then nothing serious is found
    audit(steps, taps=False)
