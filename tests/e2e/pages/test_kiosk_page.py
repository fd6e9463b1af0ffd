"""The door kiosk page in headless Chromium; the door API is faked and checks signatures with Python's HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import CHROMIUM, CHROMIUM_ARGS, INIT_SCRIPT, WEB_DIR, Harness, fakecam
from .fakes import CLAIM_CODE, FakeDoorApi, decision, error, image_info

try:
    import qrcam
except ImportError:  # tests/e2e became a package
    from e2e import qrcam  # type: ignore[no-redef]

DOOR_ID = "d_lobby-1"
KEY_ID = "tk_01HXYZ"
SECRET = "s3cret-터미널-🔑"
SETTINGS_KEY = "facegate.kiosk.settings"


def preset(settings: dict[str, Any]) -> str:
    """An init script that stores kiosk settings before the page loads."""
    return f"localStorage.setItem({json.dumps(SETTINGS_KEY)}, {json.dumps(json.dumps(settings))});"


def configured(**overrides: Any) -> dict[str, Any]:
    settings = {"apiUrl": "", "doorId": DOOR_ID, "keyId": KEY_ID, "secret": SECRET, "auto": False, "interval": 5}
    settings.update(liveness=False, sideways=False)
    settings.update(overrides)
    return settings


def open_kiosk(
    open_page: Callable[..., Harness],
    api: FakeDoorApi | None,
    *,
    settings: dict[str, Any] | None = None,
    init_script: str = "",
    width: int = 1280,
    height: int = 800,
    **kwargs: Any,
) -> Harness:
    script = (preset(settings) if settings else "") + init_script
    harness = open_page(width=width, height=height, init_script=script or None, **kwargs)
    if api is not None:
        api.install(harness.page)
    harness.page.goto(f"{harness.base}/kiosk")
    harness.page.wait_for_selector("body[data-ready='true']")
    return harness


def wait_decision(harness: Harness, value: str) -> None:
    harness.page.wait_for_selector(f"#result[data-decision='{value}']")


def wait_camera(harness: Harness) -> None:
    harness.page.wait_for_function("() => document.querySelector('#kiosk-video').videoWidth > 0")


def test_settings_are_entered_once_and_kept(open_page: Callable[..., Harness]) -> None:
    # Given a kiosk that was never configured
    harness = open_kiosk(open_page, None)
    page = harness.page

    # Then the settings panel is open and the prompt asks for settings
    expect(page.locator("#settings-panel")).to_be_visible()
    expect(page.locator("#kiosk-prompt")).to_contain_text("settings", use_inner_text=True)
    harness.screenshot("kiosk-settings-en")

    # When the operator fills and saves them
    page.fill("#set-door-id", DOOR_ID)
    page.fill("#set-key-id", KEY_ID)
    page.fill("#set-secret", SECRET)
    page.check("#set-auto")
    page.fill("#set-interval", "7")
    page.click("#settings-save")

    # Then the panel closes, the settings are in localStorage, and they survive a reload
    expect(page.locator("#settings-panel")).to_be_hidden()
    stored = json.loads(page.evaluate(f"localStorage.getItem({json.dumps(SETTINGS_KEY)})"))
    assert stored == configured(auto=True, interval=7)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("#settings-panel")).to_be_hidden()
    expect(page.locator("#kiosk-prompt")).to_contain_text("7 seconds", use_inner_text=True)
    page.click("#settings-toggle")
    expect(page.locator("#set-door-id")).to_have_value(DOOR_ID)
    expect(page.locator("#set-key-id")).to_have_value(KEY_ID)
    expect(page.locator("#set-secret")).to_have_value("")
    expect(page.locator("#secret-saved-hint")).to_be_visible()

    # When the settings are saved again without retyping the secret, the secret is kept
    page.fill("#set-door-id", "d_other")
    page.click("#settings-save")
    stored = json.loads(page.evaluate(f"localStorage.getItem({json.dumps(SETTINGS_KEY)})"))
    assert stored["secret"] == SECRET and stored["doorId"] == "d_other"

    # When the operator forgets the settings
    page.click("#settings-toggle")
    page.click("#settings-clear")
    assert page.evaluate(f"localStorage.getItem({json.dumps(SETTINGS_KEY)})") is None
    harness.assert_clean()


def test_settings_reject_a_bad_api_address_and_missing_fields(open_page: Callable[..., Harness]) -> None:
    # Given an unconfigured kiosk
    harness = open_kiosk(open_page, None)
    page = harness.page

    # When an invalid address is saved, then an incomplete form
    page.fill("#set-api-url", "ftp://example")
    page.click("#settings-save")
    # Then it is refused
    expect(page.locator("#settings-status")).to_contain_text("not a valid", use_inner_text=True)
    page.fill("#set-api-url", "")
    page.fill("#set-door-id", DOOR_ID)
    page.click("#settings-save")

    # Then both are refused and nothing is stored
    expect(page.locator("#settings-status")).to_contain_text("door id, key id and secret", use_inner_text=True)
    assert page.evaluate(f"localStorage.getItem({json.dumps(SETTINGS_KEY)})") is None
    harness.assert_clean()


def test_signed_burst_is_granted(open_page: Callable[..., Harness], camera: Path) -> None:
    # Given a configured kiosk with the LFW fake camera and a door API that checks signatures
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("grant"))
    harness = open_kiosk(open_page, api, settings=configured())
    page = harness.page
    wait_camera(harness)
    page.evaluate("() => { window.__grants = []; addEventListener('facegate:grant', (e) => __grants.push(e.detail)); }")

    # When the visitor presses the big button
    page.click("#verify-btn")
    wait_decision(harness, "grant")

    # Then one request was signed correctly (checked by Python's HMAC) over the exact bytes sent
    (call,) = api.calls
    assert call.signature_ok, call.problem
    assert call.path == f"/doors/{DOOR_ID}/verify"
    assert call.headers["x-facegate-key-id"] == KEY_ID
    assert len(call.headers["x-facegate-nonce"]) >= 16
    assert "x-facegate-claim" not in call.headers
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")

    # And it carried the burst: two JPEG frames named "frame" (chosen for quality), each at most 640 px
    assert [f.name for f in call.frames] == ["frame", "frame"]
    for frame in call.frames:
        fmt, width, height = image_info(frame.data)
        assert fmt == "JPEG" and frame.content_type == "image/jpeg"
        assert max(width, height) <= 640

    # And the page shows a large green GRANTED and what to do next, and nothing about scores
    expect(page.locator("#result-decision")).to_have_text("GRANTED", use_inner_text=True)
    expect(page.locator("#result-next")).to_have_text("Welcome. Please go in.", use_inner_text=True)
    expect(page.locator("#result")).to_have_attribute("data-claim", "false")
    assert_no_oracle(harness)
    background = page.eval_on_selector("#result", "(e) => getComputedStyle(e).backgroundColor")
    assert background == "rgb(20, 108, 46)"
    expect(page.locator("#claim-panel")).to_be_hidden()
    grants = page.evaluate("window.__grants")
    assert grants == [{"door_id": DOOR_ID, "decision_id": "dec_01", "unlock_token": "eyJhbGciOiJIUzI1NiJ9.e30.sig"}]
    harness.screenshot("kiosk-grant-en")
    harness.assert_clean()


def assert_no_oracle(harness: Harness) -> None:
    """The kiosk shows no similarity, threshold or reason: no decimal number, no such word, no such attribute."""
    page = harness.page
    text = page.inner_text("body")
    for word in ("similarity", "threshold", "유사도", "기준값", "no_match", "claim_mismatch", "claim_unknown"):
        assert word not in text, f"the kiosk shows {word!r}"
    assert not re.search(r"\d\.\d", text), f"the kiosk shows a number: {text!r}"
    attributes = page.eval_on_selector("#result", "(e) => Object.keys(e.dataset)")
    assert sorted(attributes) == ["claim", "code", "decision", "hint", "next"]


@pytest.mark.parametrize(
    ("next_step", "locale", "words", "panel"),
    [
        ("show_code", "en-US", "hold the QR code from your registration page", True),
        ("retry", "en-US", "try again", False),
        ("see_reception", "en-US", "see reception", False),
        ("see_reception", "ko-KR", "안내 데스크", False),
    ],
)
def test_deny_shows_only_the_next_step(
    open_page: Callable[..., Harness], camera: Path, next_step: str, locale: str, words: str, panel: bool
) -> None:
    # Given a configured kiosk whose check is denied with a next step
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("deny", next_step))
    harness = open_kiosk(open_page, api, settings=configured(), locale=locale)
    page = harness.page
    wait_camera(harness)

    # When the visitor is checked
    page.click("#verify-btn")
    wait_decision(harness, "deny")

    # Then a large red DENIED says what to do next, the code entry opens only when asked, and nothing else
    expect(page.locator("#result-decision")).to_have_text(
        ("DENIED" if locale == "en-US" else "출입 거부"), use_inner_text=True
    )
    expect(page.locator("#result-next")).to_contain_text(words, use_inner_text=True)
    expect(page.locator("#result")).to_have_attribute("data-next", next_step)
    if panel:
        expect(page.locator("#claim-panel")).to_be_visible()
    else:
        expect(page.locator("#claim-panel")).to_be_hidden()
    background = page.eval_on_selector("#result", "(e) => getComputedStyle(e).backgroundColor")
    assert background == "rgb(179, 38, 30)"
    assert_no_oracle(harness)
    harness.assert_clean()


def test_typed_code_after_show_code_resends_the_frames_signed(open_page: Callable[..., Harness], camera: Path) -> None:
    # Given a configured kiosk whose first check is denied with "show the code"
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("deny", "show_code"))
    api.replies.append(decision("grant"))
    harness = open_kiosk(open_page, api, settings=configured(), locale="ko-KR")
    page = harness.page
    wait_camera(harness)

    # When the visitor is checked
    page.click("#verify-btn")
    wait_decision(harness, "deny")

    # Then a large red DENY in Korean asks for the code
    expect(page.locator("#result-decision")).to_have_text("출입 거부", use_inner_text=True)
    expect(page.locator("#result-next")).to_contain_text("QR 코드", use_inner_text=True)
    expect(page.locator("#claim-panel")).to_be_visible()
    harness.screenshot("kiosk-deny-claim-ko")

    # When a malformed code is typed, nothing is sent
    page.fill("#claim-input", "K7Q2")
    page.click("#claim-send")
    expect(page.locator("#claim-status")).to_contain_text("8자리", use_inner_text=True)
    assert len(api.calls) == 1

    # When the 8-character code is typed (lower case, with a dash) and sent
    page.fill("#claim-input", "k7q2-m9xa")
    page.click("#claim-send")
    wait_decision(harness, "grant")

    # Then the same frames were re-sent with the claim header, signed over the claim too
    first, second = api.calls
    assert second.signature_ok, second.problem
    assert second.headers["x-facegate-claim"] == "K7Q2M9XA"
    assert second.headers["x-facegate-nonce"] != first.headers["x-facegate-nonce"]
    assert [f.data for f in second.frames] == [f.data for f in first.frames]
    expect(page.locator("#result")).to_have_attribute("data-claim", "true")
    expect(page.locator("#claim-panel")).to_be_hidden()
    assert_no_oracle(harness)
    harness.assert_clean()


@pytest.fixture(scope="module")
def qr_camera_browser(browser: Any, lfw_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second Chromium whose fake camera shows an LFW face with the QR code of CLAIM_CODE beside it."""
    if not (WEB_DIR / "static" / "jsqr.js").is_file():
        pytest.skip("the vendored QR decoder static/jsqr.js is missing: run `make web-vendor`")
    frame = qrcam.face_with_qr(lfw_images[0], qrcam.qr_image(CLAIM_CODE))
    video = fakecam.write_y4m([frame], tmp_path_factory.mktemp("qrcam") / "face-qr.y4m", frames_per_image=5)
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"]
    instance = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args, headless=True)
    yield instance
    instance.close()


def qr_kiosk(browser: Any, web_base: str, api: FakeDoorApi, locale: str) -> Harness:
    """A configured kiosk page (not opened yet) in ``browser``, whose camera shows a face with a QR code beside it;
    ``api`` answers its requests and page errors are collected. Close it with ``harness.page.context.close()``."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    context.add_init_script(INIT_SCRIPT)
    context.add_init_script(preset(configured()))
    harness = Harness(page=context.new_page(), base=web_base)
    harness.page.on("pageerror", lambda error: harness.errors.append(str(error)))
    api.install(harness.page)
    return harness


def test_a_qr_code_in_view_goes_with_the_frames_in_one_request(
    qr_camera_browser: Any, web_base: str, open_page: Callable[..., Harness]
) -> None:
    # Given a configured kiosk whose camera shows a face with a QR code held up beside it
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("grant"))
    harness = qr_kiosk(qr_camera_browser, web_base, api, "en-US")
    page = harness.page

    # When the kiosk page runs, with nobody pressing anything
    page.goto(f"{web_base}/kiosk")
    expect(page.locator("body")).to_have_attribute("data-qr-decoder", "jsqr")
    expect(page.locator("#result")).to_have_attribute("data-decision", "grant", timeout=20_000)

    # Then exactly one request carried the code (signed over it) together with the burst of frames
    (call,) = api.calls
    assert call.signature_ok, call.problem
    assert call.headers["x-facegate-claim"] == CLAIM_CODE
    assert len(call.frames) == 2
    expect(page.locator("#result")).to_have_attribute("data-claim", "true")
    assert_no_oracle(harness)

    # And holding the same code in view does not send it again
    page.wait_for_timeout(1500)
    assert len(api.calls) == 1
    harness.screenshot("kiosk-qr-grant-en")
    harness.assert_clean()
    harness.page.context.close()


@pytest.mark.parametrize(
    ("settings", "reply", "code", "words"),
    [
        (configured(secret="wrong secret"), None, "invalid_signature", "Check the secret"),
        (configured(keyId="tk_unknown"), None, "unknown_key", "key id is unknown"),
        (configured(), error(401, "key_revoked"), "key_revoked", "revoked"),
        (configured(), error(401, "clock_skew"), "clock_skew", "60 seconds"),
        (configured(), error(401, "nonce_reused"), "nonce_reused", "replay"),
        (configured(doorId="d_elsewhere"), None, "door_not_allowed", "may not check this door"),
        (configured(), error(400, "corrupt_image"), "corrupt_image", "could not be read"),
        (configured(), error(413, "payload_too_large"), "payload_too_large", "too large"),
        (configured(), error(500, "internal_error"), "internal_error", "went wrong"),
    ],
)
def test_errors_are_shown_clearly(
    open_page: Callable[..., Harness], camera: Path, settings: dict[str, Any], reply: Any, code: str, words: str
) -> None:
    # Given a kiosk whose request fails (a wrong secret, key or door is refused by the HMAC-checking fake)
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    if reply is not None:
        api.replies.append(reply)
    harness = open_kiosk(open_page, api, settings=settings)
    page = harness.page
    wait_camera(harness)

    # When the visitor is checked
    page.click("#verify-btn")

    # Then the error is shown in words with its code, and no GRANT/DENY
    page.wait_for_selector(f"#result[data-code='{code}']")
    expect(page.locator("#result")).to_have_attribute("data-decision", "error")
    expect(page.locator("#result-next")).to_contain_text(words, use_inner_text=True)
    expect(page.locator("#claim-panel")).to_be_hidden()
    harness.assert_clean()


def test_cooling_down_counts_down_retry_after(open_page: Callable[..., Harness], camera: Path) -> None:
    # Given a terminal that is cooling down for 3 seconds
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(error(429, "cooling_down", {"Retry-After": "3"}))
    harness = open_kiosk(open_page, api, settings=configured())
    page = harness.page
    wait_camera(harness)

    # When the visitor is checked
    page.click("#verify-btn")

    # Then the wait is shown with a countdown and the button is disabled until it ends
    page.wait_for_selector("#result[data-code='cooling_down']")
    expect(page.locator("#retry-countdown")).to_have_attribute("data-seconds", re.compile(r"^[123]$"))
    expect(page.locator("#result")).to_have_attribute("data-decision", "wait")
    expect(page.locator("#result-decision")).to_have_text("PLEASE WAIT", use_inner_text=True)
    expect(page.locator("#result-next")).to_contain_text("Too many denied attempts", use_inner_text=True)
    expect(page.locator("#verify-btn")).to_be_disabled()
    harness.screenshot("kiosk-cooling-down-en")
    page.wait_for_selector("#verify-btn:not([disabled])", timeout=15_000)
    expect(page.locator("#result")).to_have_attribute("data-decision", "idle")

    # When checked again after the wait
    page.click("#verify-btn")

    # Then the request goes through
    wait_decision(harness, "grant")
    assert len(api.calls) == 2
    harness.assert_clean()


def test_auto_mode_checks_by_itself(open_page: Callable[..., Harness], camera: Path) -> None:
    # Given a kiosk in auto mode every 2 seconds, where the first automatic check sees nobody
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("deny", "retry"))
    harness = open_kiosk(open_page, api, settings=configured(auto=True, interval=2))

    # When nobody presses anything
    wait_decision(harness, "grant")

    # Then signed bursts were sent on their own, and the "retry" of an automatic check stayed quiet
    assert len(api.calls) == 2
    assert all(call.signature_ok for call in api.calls)
    expect(harness.page.locator("#claim-panel")).to_be_hidden()
    harness.assert_clean()


def test_signing_helpers_match_python(open_page: Callable[..., Harness]) -> None:
    # Given the page's signing module
    harness = open_page()
    harness.page.goto(f"{harness.base}/kiosk")
    body = bytes(range(256)) * 3

    # When it signs a request with a claim, and builds a multipart body
    signed = harness.page.evaluate(
        """async ([body, secret]) => {
            const m = await import('/static/terminal.js');
            const bytes = new Uint8Array(body);
            const hash = await m.sha256Hex(bytes);
            const text = m.stringToSign({method: 'post', path: '/doors/d1/verify', timestamp: 1764320400,
                                         nonce: 'abcdefghijklmnop', bodyHash: hash, claim: 'K7Q2M9XA'});
            const part = {name: 'frame', filename: 'a.jpg', contentType: 'image/jpeg', bytes};
            const multipart = m.buildMultipart([part], 'XyZ');
            return {hash, text, signature: await m.hmacSha256Hex(secret, text), nonce: m.randomNonce(),
                    multipart: Array.from(multipart.body), contentType: multipart.contentType};
        }""",
        [list(body), SECRET],
    )

    # Then every piece equals an independent Python computation
    body_hash = hashlib.sha256(body).hexdigest()
    text = f"POST\n/doors/d1/verify\n1764320400\nabcdefghijklmnop\n{body_hash}\nK7Q2M9XA"
    assert signed["hash"] == body_hash
    assert signed["text"] == text
    assert signed["signature"] == hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert len(signed["nonce"]) == 32 and int(signed["nonce"], 16) >= 0
    assert bytes(signed["multipart"]) == (
        b'--XyZ\r\nContent-Disposition: form-data; name="frame"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + body + b"\r\n--XyZ--\r\n"
    )
    assert signed["contentType"] == "multipart/form-data; boundary=XyZ"
    harness.assert_clean()


def test_a_code_in_view_is_tried_again_after_retry(
    qr_camera_browser: Any, web_base: str, open_page: Callable[..., Harness]
) -> None:
    # Given a kiosk whose camera shows a face with a QR code, and a door that first says "retry"
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("deny", "retry"))
    api.replies.append(decision("grant"))
    harness = qr_kiosk(qr_camera_browser, web_base, api, "ko-KR")
    page = harness.page

    # When the kiosk runs with the code held in view
    page.goto(f"{web_base}/kiosk")
    expect(page.locator("#result")).to_have_attribute("data-decision", "grant", timeout=30_000)

    # Then the code was sent again on its own after the "retry", and the second attempt was granted
    assert [call.headers.get("x-facegate-claim") for call in api.calls] == [CLAIM_CODE, CLAIM_CODE]
    assert all(call.signature_ok for call in api.calls)
    expect(page.locator("#result-decision")).to_have_text("출입 허가", use_inner_text=True)
    assert_no_oracle(harness)
    harness.assert_clean()
    harness.page.context.close()


def test_burst_frames_are_chosen_for_sharpness_and_exposure(
    open_page: Callable[..., Harness], lfw_images: list[Path]
) -> None:
    # Given the kiosk's frame-quality helpers and one LFW photo drawn sharp, blurred, dark and blown out
    harness = open_page()
    harness.page.goto(f"{harness.base}/kiosk")
    photo = "data:image/jpeg;base64," + base64.b64encode(lfw_images[0].read_bytes()).decode()

    # When each version is scored, and burst candidates are picked
    result = harness.page.evaluate(
        """async (photo) => {
            const m = await import('/static/imaging.js');
            const image = new Image();
            image.src = photo;
            await image.decode();
            const draw = (filter) => {
                const canvas = document.createElement('canvas');
                canvas.width = 320;
                canvas.height = 320;
                const context = canvas.getContext('2d');
                context.filter = filter;
                context.drawImage(image, 0, 0, 320, 320);
                return m.frameQuality(canvas).score;
            };
            const candidates = [[1, 0], [5, 100], [4.9, 200], [2, 300], [6, 400]].map(([score, at]) => ({score, at}));
            return {
                sharp: draw('none'),
                blurred: draw('blur(3px)'),
                dark: draw('brightness(0.2)'),
                bright: draw('brightness(3)'),
                picked: m.pickFrames(candidates, 2, 250),
                three: m.pickFrames(candidates, 3, 250),
            };
        }""",
        photo,
    )

    # Then the sharp, well-exposed frame scores best, and the picks are the best ones at least 250 ms apart
    assert result["sharp"] > max(result["blurred"], result["dark"], result["bright"]), result
    assert result["picked"] == [1, 4]
    assert result["three"] == [1, 4], "fewer frames rather than frames closer than 250 ms"
    harness.assert_clean()


# ----- issue 15: what a new user ran into -------------------------------------------------------

PHONE = {"width": 360, "height": 740}


def box(harness: Harness, selector: str) -> dict[str, float]:
    found = harness.page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return dict(found)


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_item6_kiosk_header_stays_on_one_line_on_a_360px_phone(open_page: Callable[..., Harness], locale: str) -> None:
    # Given the kiosk on a 360 px wide phone, in English and in Korean
    harness = open_kiosk(open_page, None, locale=locale, **PHONE)
    page = harness.page
    expect(page.locator("#lang-switch")).to_have_text("English" if locale == "ko-KR" else "한국어")

    # When the header is laid out
    header = box(harness, "header.topbar")
    parts = [box(harness, selector) for selector in (".topbar .brand", "#settings-toggle", "#lang-switch")]

    # Then the name and both buttons share one line, each button on a single text line, nothing overflows
    tops = [part["y"] for part in parts]
    bottoms = [part["y"] + part["height"] for part in parts]
    assert max(tops) < min(bottoms), f"the header wraps: {parts}"
    for selector in ("#settings-toggle", "#lang-switch"):
        button = box(harness, selector)
        assert 44 <= button["height"] <= 56, f"{selector} wraps or is too small: {button}"
        assert button["x"] + button["width"] <= PHONE["width"]
    assert header["height"] <= 72, header
    expect(page.locator(".topbar .brand")).to_have_text(
        "출입문 키오스크" if locale == "ko-KR" else "Door kiosk", use_inner_text=True
    )
    assert page.eval_on_selector(".topbar .brand", "(e) => e.scrollWidth <= e.clientWidth"), "the name is cut off"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    harness.screenshot(f"kiosk-phone-header-{locale}")
    harness.assert_clean()


def test_item6_check_my_face_is_disabled_until_the_kiosk_is_set_up(open_page: Callable[..., Harness]) -> None:
    # Given a kiosk that was never set up, on a phone
    harness = open_kiosk(open_page, None, **PHONE)
    page = harness.page

    # Then "Check my face" is disabled and looks it (grey, not the primary blue)
    button = page.locator("#verify-btn")
    expect(button).to_be_disabled()
    expect(button).to_have_css("background-color", "rgb(225, 228, 232)")
    expect(page.locator("#kiosk-prompt")).to_contain_text("settings", use_inner_text=True)

    # When the operator saves complete settings
    page.fill("#set-door-id", DOOR_ID)
    page.fill("#set-key-id", KEY_ID)
    page.fill("#set-secret", SECRET)
    page.click("#settings-save")

    # Then the button is enabled and primary blue
    expect(button).to_be_enabled()
    expect(button).to_have_css("background-color", "rgb(11, 87, 208)")

    # When the settings are forgotten, it is disabled again
    page.click("#settings-toggle")
    page.click("#settings-clear")
    expect(button).to_be_disabled()
    harness.assert_clean()


def test_item6_auto_checkbox_has_a_tap_target_of_at_least_44px(open_page: Callable[..., Harness]) -> None:
    # Given the settings panel of a kiosk on a phone
    harness = open_kiosk(open_page, None, **PHONE)
    page = harness.page
    expect(page.locator("#settings-panel")).to_be_visible()
    auto = page.locator("#set-auto")
    expect(auto).not_to_be_checked()

    # When the tap target of "Check automatically" is measured (scrolled into view: the pairing form is above it)
    page.locator("label[for='set-auto']").scroll_into_view_if_needed()
    target = box(harness, "label[for='set-auto']")
    checkbox = box(harness, "#set-auto")

    # Then it is at least 44 x 44 px and holds the checkbox
    assert target["height"] >= 44 and target["width"] >= 44, target
    assert target["x"] <= checkbox["x"] and checkbox["x"] + checkbox["width"] <= target["x"] + target["width"]
    assert target["y"] <= checkbox["y"] and checkbox["y"] + checkbox["height"] <= target["y"] + target["height"]
    text = box(harness, "label[for='set-auto'] span")
    assert abs((text["y"] + text["height"] / 2) - (checkbox["y"] + checkbox["height"] / 2)) <= 4, "box and words align"
    harness.screenshot("kiosk-phone-settings-en")

    # When the visitor taps above the box, left of it, and at the far end of the label, the checkbox toggles
    middle = checkbox["x"] + checkbox["width"] / 2
    page.mouse.click(middle, target["y"] + 2)
    expect(auto).to_be_checked()
    page.mouse.click(target["x"] + 2, target["y"] + target["height"] / 2)
    expect(auto).not_to_be_checked()
    page.mouse.click(target["x"] + target["width"] - 2, target["y"] + target["height"] - 2 - 10)
    expect(auto).to_be_checked()
    harness.assert_clean()


@pytest.mark.parametrize(
    ("locale", "not_matched", "camera_words"),
    [
        ("ko-KR", "등록된 방문자로 확인되지 않았습니다", ("인식하지 못했", "카메라 오류")),
        ("en-US", "did not confirm you as a registered visitor", ("not recognised", "camera error")),
    ],
)
def test_item5_deny_says_not_matched_not_a_camera_failure(
    open_page: Callable[..., Harness], camera: Path, locale: str, not_matched: str, camera_words: tuple[str, ...]
) -> None:
    # Given a configured kiosk whose face-only check finds no match (the door answers deny + show_code)
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(decision("deny", "show_code"))
    harness = open_kiosk(open_page, api, settings=configured(), locale=locale)
    page = harness.page
    wait_camera(harness)

    # When the visitor is checked
    page.click("#verify-btn")
    wait_decision(harness, "deny")

    # Then the page says the face was not matched to a registered visitor, not that the camera failed
    expect(page.locator("#result-next")).to_contain_text(not_matched, use_inner_text=True)
    text = page.inner_text("#result")
    for words in camera_words:
        assert words not in text
    assert_no_oracle(harness)
    harness.assert_clean()


def test_item5_strings_have_no_particle_after_a_placeholder_and_no_plural_s(open_page: Callable[..., Harness]) -> None:
    # Given the page's UI strings in both languages
    harness = open_page()
    harness.page.goto(f"{harness.base}/kiosk")
    en, ko = harness.strings("en"), harness.strings("ko")

    # Then no Korean string puts a sound-dependent particle (은/는, 이/가, 을/를, 와/과, (으)로) right after a
    # {placeholder} or writes the form-letter "은(는)", the "no match" deny does not read like a camera
    # failure, and no English string writes "hour(s)"
    for key, text in ko.items():
        assert not re.search(r"\{\w+\}(은|는|이|가|을|를|와|과|으로|로)(?![가-힣])", text), (key, text)
        assert not re.search(r"\((은|는|이|가|을|를|와|과|으)\)", text), (key, text)
        assert "인식하지 못했" not in text, (key, text)
    for key, text in en.items():
        assert not re.search(r"\b(hour|day|second|minute|photo|attempt)\(s\)", text), (key, text)
    harness.assert_clean()
