"""Claim first, in a real headless Chromium against the real local stack.

Visitor A (LFW dev, enrolled with three photos through the SDK) opens their own visitor
page; the QR code drawn there is held up next to A's face in front of the kiosk (a fake-camera video of
A's photo with that QR composited beside it). The kiosk reads the QR on its own and sends it with the
frames in one signed request: GRANTED, in claim mode (the audit log says so). Stranger B holding the same
QR is DENIED. Neither the kiosk page nor the verify answer shows a similarity, a threshold or why.

Screenshots: ``test-artifacts/e2e/claim-first-*.png``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fakecam
import pytest
import qrcam
from kiosk_support import RESULT_RECORDER, first_shown, kiosk_door, store_kiosk_settings
from pages.fakes import parse_multipart
from pages.qrdecode import canvas_image
from PIL import Image

from facegate_client import AdminClient, verify_unlock_token

if TYPE_CHECKING:
    from conftest import FaceCast, NewPage, Stage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANSWER_KEYS = {"decision", "decision_id", "unlock_token", "next", "hint"}
ORACLE_WORDS = ("similarity", "threshold", "reason", "no_match", "claim_mismatch", "claim_unknown", "유사도", "기준값")
GRANT_LISTENER = (
    "window.__grants = []; window.addEventListener('facegate:grant', (event) => window.__grants.push(event.detail));"
)
DECISION_TIMEOUT_MS = 60_000
VENDORED_DECODER = Path(__file__).resolve().parents[2] / "layers" / "facegate" / "web" / "static" / "jsqr.js"


def qr_from_visitor_page(new_page: NewPage, browser: Any, registration_url: str) -> tuple[Image.Image, str]:
    """The claim QR exactly as the visitor's own page draws it (canvas pixels), and the code in words."""
    recorder = new_page(browser, "claim-first-visitor", width=412, height=900)
    page = recorder.page
    page.goto(registration_url)
    page.wait_for_selector("body[data-view='enrolled']")
    page.wait_for_selector("#claim-qr[data-code]")
    recorder.screenshot("1-visitor-qr")
    image = canvas_image(page, "#claim-qr")
    code = page.inner_text("#claim-code")
    assert recorder.errors == [], recorder.errors
    return image, code


def kiosk_attempt(
    new_page: NewPage, browser: Any, api_url: str, settings: dict[str, Any], prefix: str
) -> dict[str, Any]:
    """Open the kiosk (configured, manual mode: nobody presses anything) and return the first verify
    request it sends on its own, the answer, and what the page shows."""
    from playwright.sync_api import expect

    recorder = new_page(browser, prefix, width=1024, height=720)
    page = recorder.page
    page.context.add_init_script(GRANT_LISTENER)
    page.context.add_init_script(RESULT_RECORDER)
    store_kiosk_settings(page, settings)
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request) if request.url.endswith("/verify") else None)
    with page.expect_response(lambda response: response.url.endswith("/verify"), timeout=DECISION_TIMEOUT_MS) as info:
        page.goto(f"{api_url}/kiosk")
    answer = info.value
    result = page.locator("#result")
    expect(result).to_have_attribute("data-decision", re.compile("^(grant|deny|error|wait)$"))
    recorder.screenshot("kiosk")
    request = requests[0]
    headers = request.all_headers()
    frames = parse_multipart(request.post_data_buffer or b"", headers.get("content-type", ""))
    shown = first_shown(page)
    page.wait_for_timeout(1500)  # would a code still in view be sent again? (it must not)
    return {
        "recorder": recorder,
        "status": answer.status,
        "body": answer.json(),
        "claim_header": headers.get("x-facegate-claim"),
        "n_frames": len(frames),
        "n_requests": len(requests),
        "shown": shown["decision"],
        "next_shown": shown["next"],
        "claim_shown": shown["claim"],
        "data_keys": shown["keys"],
        "title": shown["title"],
        "qr_decoder": page.get_attribute("body", "data-qr-decoder"),
        "text": shown["text"],
        "grants": page.evaluate("window.__grants"),
    }


def assert_no_oracle(attempt: dict[str, Any]) -> None:
    """The answer has exactly the public fields; the page shows no score, threshold or reason."""
    assert set(attempt["body"]) == ANSWER_KEYS, attempt["body"]
    text = attempt["text"]
    for word in ORACLE_WORDS:
        assert word not in text.lower(), f"the kiosk shows {word!r}: {text!r}"
    assert not re.search(r"\d\.\d", text), f"the kiosk shows a number: {text!r}"
    assert attempt["data_keys"] == ["claim", "code", "decision", "hint", "next"]


def door_records(admin: AdminClient, site_id: str, since: datetime) -> list[Any]:
    """The site's door decisions (audit records with a decision) since ``since``, oldest first."""
    records = [r for r in admin.audit(site_id, start=since) if r.decision in {"grant", "deny"}]
    return sorted(records, key=lambda r: r.at or since)


def test_visitor_holds_their_own_qr_up_to_the_kiosk_and_a_stranger_with_it_is_denied(
    live_stack: dict[str, Any], face_cast: FaceCast, stage: Stage
) -> None:
    if not VENDORED_DECODER.is_file():
        pytest.skip(f"the vendored QR decoder {VENDORED_DECODER} is missing: run `make web-vendor`")
    # Given a site of its own with a door and a kiosk terminal, and visitor A enrolled with three photos
    api_url = live_stack["api_url"]
    made = kiosk_door(live_stack, "Claim-first site", list(face_cast.a_enroll), "A")
    settings = made.kiosk_settings()

    # When A opens their own visitor page, which shows the claim QR
    phone = stage.camera([face_cast.a_probe], "phone", frames_per_image=5)
    qr, code_shown = stage.open(qr_from_visitor_page, phone, made.invite.registration_url)
    assert code_shown == made.enrollment.claim_code

    # And holds that QR up next to their face in front of the kiosk (nobody presses anything)
    a_video = fakecam.write_y4m([qrcam.face_with_qr(face_cast.a_probe, qr)], stage.folder / "a.y4m", frames_per_image=5)
    kiosk_a = stage.launch(a_video)
    granted = stage.open(kiosk_attempt, kiosk_a, api_url, settings, "claim-first-a")

    # Then the kiosk sent the code with the frames in one signed request, and A is granted in one step
    assert granted["status"] == 200, granted["body"]
    assert granted["claim_header"] == made.enrollment.claim_code
    assert granted["n_frames"] in (2, 3)
    assert granted["body"]["decision"] == "grant", f"{granted['body']} (A={face_cast.a_name})"
    assert granted["body"]["next"] is None
    assert granted["n_requests"] == 1, "a code still in view is not sent again"
    assert granted["shown"] == "grant" and granted["title"] == "GRANTED"
    assert granted["claim_shown"] == "true" and granted["qr_decoder"] == "jsqr"
    (event,) = granted["grants"]
    claims = verify_unlock_token(event["unlock_token"], made.door.unlock_key or "", door_id=made.door.door_id)
    assert claims.decision_id == granted["body"]["decision_id"]
    assert_no_oracle(granted)

    # When stranger B holds the same QR up next to their own face
    b_video = fakecam.write_y4m([qrcam.face_with_qr(face_cast.b_probe, qr)], stage.folder / "b.y4m", frames_per_image=5)
    kiosk_b = stage.launch(b_video)
    denied = stage.open(kiosk_attempt, kiosk_b, api_url, settings, "claim-first-b")

    # Then B is denied (the code went with B's frames), told only what to do next, and no door opens
    assert denied["status"] == 200, denied["body"]
    assert denied["claim_header"] == made.enrollment.claim_code
    assert denied["body"]["decision"] == "deny", f"{denied['body']} (B={face_cast.b_name})"
    assert denied["body"]["unlock_token"] is None
    assert denied["body"]["next"] in {"retry", "see_reception"}
    assert denied["shown"] == "deny" and denied["title"] == "DENIED"
    assert denied["grants"] == []
    assert_no_oracle(denied)

    # And the audit log (admins only) has the precise story: A granted and B refused, both 1:1 on the claim
    records = door_records(made.admin, made.site.site_id, made.started)
    assert [(r.decision, r.mode) for r in records] == [("grant", "claim"), ("deny", "claim")], [
        r.to_dict() for r in records
    ]
    assert records[1].reason == "claim_mismatch"
    assert records[0].similarity is not None and records[0].threshold is not None
    assert records[0].similarity >= records[0].threshold > records[1].similarity  # type: ignore[operator]

    # And every page loaded its resources (the vendored QR decoder too), threw nothing, kept its CSP
    for recorder in (granted["recorder"], denied["recorder"]):
        assert recorder.network == [], (recorder.prefix, recorder.network)
        assert recorder.errors == [], recorder.errors
        assert stage.run(recorder.csp_violations) == []
    made.visitor.erase()
