"""The visitor registration page in headless Chromium against a faked API (page.route)."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import Harness
from .fakes import (
    CLAIM_CODE,
    CONSENT_VERSION,
    NOTICE,
    NOTICE_LOCALIZED,
    FakeRegistrationApi,
    Reply,
    error,
    image_info,
    parse_multipart,
)
from .qrdecode import assert_qr_encodes
from .register_support import agree_in_two_steps, open_register, start_camera, wait_view

RETAKE_CODES = [
    "no_face",
    "multiple_faces",
    "face_too_small",
    "too_blurry",
    "too_dark",
    "overexposed",
    "pose_too_far",
    "inconsistent_faces",
]
STAY_ERRORS = [
    Reply(400, {"error": {"code": "invalid_request", "message": "x"}}),
    Reply(400, {"error": {"code": "empty_image", "message": "x"}}),
    Reply(400, {"error": {"code": "corrupt_image", "message": "x"}}),
    Reply(400, {"error": {"code": "image_too_large", "message": "x"}}),
    Reply(400, {"error": {"code": "unsupported_image_format", "message": "x"}}),
    Reply(413, {"error": {"code": "payload_too_large", "message": "x"}}),
    Reply(415, {"error": {"code": "unsupported_media_type", "message": "x"}}),
    Reply(409, {"error": {"code": "idempotency_conflict", "message": "x"}}),
    Reply(409, {"error": {"code": "conflict", "message": "x"}}),
    Reply(503, {"error": {"code": "service_unavailable", "message": "x"}}, {"Retry-After": "5"}),
    Reply(500, {"error": {"code": "internal_error", "message": "x"}}),
]
HANGUL = re.compile(r"[\uac00-\ud7a3]")


VisitorPage = tuple[FakeRegistrationApi, Harness]
"""The fake API of a visitor's invite, and their page."""
VIEW_OF_STATUS = {"invited": "notice", "consented": "capture", "enrolled": "enrolled"}


def opened_at(open_page: Callable[..., Harness], status: str, **kwargs: Any) -> VisitorPage:
    """A visitor whose invite is at ``status``, on the page's view of that status (``kwargs``: for
    ``open_page``)."""
    api = FakeRegistrationApi(status)
    harness = open_register(open_page, api, **kwargs)
    wait_view(harness, VIEW_OF_STATUS[status])
    return api, harness


def on_capture_view(open_page: Callable[..., Harness], **kwargs: Any) -> VisitorPage:
    """A visitor who already consented, on the capture view (``kwargs``: for ``open_page``)."""
    return opened_at(open_page, "consented", **kwargs)


@pytest.fixture
def capture_view(open_page: Callable[..., Harness]) -> VisitorPage:
    """:func:`on_capture_view` at the page's default size and language."""
    return on_capture_view(open_page)


@pytest.fixture
def photos_ready(capture_view: VisitorPage, tmp_path: Path) -> VisitorPage:
    """A consented visitor on the capture view with three photos (400x300 JPEG) picked from files."""
    fill_with_files(capture_view[1], photo_files(tmp_path, [(400, 300)] * 3, "JPEG"))
    return capture_view


def photo_files(tmp_path: Path, sizes: list[tuple[int, int]], fmt: str = "PNG") -> list[Path]:
    """Synthetic photos (a gradient with a face-like oval) of the given sizes in pixels."""
    paths = []
    for index, (width, height) in enumerate(sizes):
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        pixels = image.load()
        assert pixels is not None
        for y in range(height // 4, 3 * height // 4, 3):
            for x in range(width // 3, 2 * width // 3, 3):
                pixels[x, y] = (200, 160, 140)
        path = tmp_path / f"photo{index}.{fmt.lower()}"
        image.save(path, fmt)
        paths.append(path)
    return paths


def fill_with_files(harness: Harness, files: list[Path]) -> None:
    page = harness.page
    page.click("#use-files-btn")
    page.set_input_files("#file-input", [str(f) for f in files])
    page.wait_for_selector(f"#thumbs .thumb[data-slot='{len(files) - 1}'][data-filled='true']")


def selfie_parts(api: FakeRegistrationApi) -> list[Any]:
    calls = api.calls_to("POST", "/selfie")
    assert len(calls) == 1, f"expected one selfie request, got {len(calls)}"
    return parse_multipart(calls[0].body, calls[0].headers["content-type"])


def test_notice_is_shown_and_consent_gates_the_camera(open_page: Callable[..., Harness]) -> None:
    # Given an invited visitor on an English browser
    api = FakeRegistrationApi("invited")
    harness = open_register(open_page, api)
    page = harness.page

    # When the page has loaded
    wait_view(harness, "notice")

    # Then the notice is shown in plain words with every structured field, and nothing touched the camera
    expect(page.locator("#notice-site")).to_have_text("Sejong Complex, Building 6", use_inner_text=True)
    expect(page.locator("#notice-window")).to_contain_text("28 Nov 2026", use_inner_text=True)
    expect(page.locator("#notice-data li")).to_have_text(NOTICE["data_stored"], use_inner_text=True)
    expect(page.locator("#notice-not-stored")).to_have_text(NOTICE["not_stored"][0], use_inner_text=True)
    expect(page.locator("#notice-purpose")).to_have_text(NOTICE["purpose"], use_inner_text=True)
    expect(page.locator("#notice-retention")).to_have_text(NOTICE["retention"], use_inner_text=True)
    expect(page.locator("#notice-controller")).to_have_text(NOTICE["controller"], use_inner_text=True)
    expect(page.locator("#notice-rights")).to_have_text(NOTICE["rights"][0], use_inner_text=True)
    expect(page.locator("#notice-full-text-only")).to_be_hidden()
    expect(page.locator("#notice-text")).to_contain_text("photos are never stored", use_inner_text=True)
    expect(page.locator("#notice-version")).to_contain_text(CONSENT_VERSION, use_inner_text=True)
    expect(page.locator("#consent-checkbox")).not_to_be_checked()
    expect(page.locator("#consent-submit")).to_be_disabled()
    expect(page.locator("#camera-video")).to_have_count(1)
    expect(page.locator("#camera-video")).to_be_hidden()
    assert harness.get_user_media_calls() == 0
    assert api.calls_to("POST", "/consent") == []
    harness.screenshot("register-notice-en")

    # When the visitor ticks the notice box (Then the biometric data still needs its own, separate consent),
    # and that box too, and agrees
    agree_in_two_steps(harness)

    # Then the consent is posted with the notice version, and the camera waits for an explicit tap
    (consent,) = api.calls_to("POST", "/consent")
    assert consent.headers["content-type"].startswith("application/json")
    assert json.loads(consent.body) == {
        "consent_version": CONSENT_VERSION,
        "accepted": True,
        "biometric": True,
    }
    assert harness.get_user_media_calls() == 0
    expect(page.locator("#camera-start")).to_be_visible()
    harness.assert_clean()


def test_burst_of_three_is_sent_as_one_multipart_request(capture_view: VisitorPage, camera: Path) -> None:
    # Given a consented visitor with the LFW fake camera
    api, harness = capture_view
    page = harness.page

    # When the camera is turned on
    start_camera(harness)

    # Then the guide and the first prompt are shown
    expect(page.locator("#face-guide")).to_be_visible()
    expect(page.locator("#step-prompt")).to_have_text("Look straight at the camera", use_inner_text=True)
    expect(page.locator("#camera-area")).to_have_attribute("data-step", "1")
    assert harness.get_user_media_calls() == 1

    # When three photos are taken, following the prompts
    prompts = []
    for slot in range(3):
        expect(page.locator("#step-prompt")).not_to_be_empty()
        prompts.append(page.inner_text("#step-prompt"))
        page.click("#shutter-btn")
        page.wait_for_selector(f"#thumbs .thumb[data-slot='{slot}'][data-filled='true']")
    assert prompts == [
        "Look straight at the camera",
        "Turn your head slightly to the left",
        "Turn your head slightly to the right",
    ]
    harness.screenshot("register-capture-3-shots")

    # And the second one is retaken
    page.click("[data-testid='retake-2']")
    expect(page.locator("#thumbs .thumb[data-slot='1']")).to_have_attribute("data-filled", "false")
    expect(page.locator("#send-btn")).to_be_disabled()
    expect(page.locator("#step-prompt")).to_have_text("Turn your head slightly to the left", use_inner_text=True)
    page.click("#shutter-btn")
    page.wait_for_selector("#thumbs .thumb[data-slot='1'][data-filled='true']")

    # And the photos are sent
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then exactly one request carried three JPEG parts named "image", each at most 720 px, with an idempotency key
    (call,) = api.calls_to("POST", "/selfie")
    uuid.UUID(call.headers["idempotency-key"])
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = selfie_parts(api)
    assert [p.name for p in parts] == ["image", "image", "image"]
    for part in parts:
        assert part.content_type == "image/jpeg"
        assert part.data[:3] == b"\xff\xd8\xff"
        fmt, width, height = image_info(part.data)
        assert fmt == "JPEG"
        assert max(width, height) <= 720
    assert harness.get_user_media_calls() == 1
    assert page.evaluate("document.querySelector('#camera-video').srcObject") is None

    # And the claim code is shown as text and as a QR code that decodes to it
    expect(page.locator("#claim-code")).to_have_text(CLAIM_CODE, use_inner_text=True)
    expect(page.locator("#claim-hint")).to_contain_text(
        re.compile("show this at the door if the camera does not recognise you", re.IGNORECASE), use_inner_text=True
    )
    assert_qr_encodes(page, "#claim-qr", CLAIM_CODE)
    harness.screenshot("register-enrolled-en")
    harness.assert_clean()


def test_countdown_option_still_takes_the_photo(capture_view: VisitorPage, camera: Path) -> None:
    # Given a consented visitor with the camera on and the 3-second timer switched on
    _, harness = capture_view
    page = harness.page
    start_camera(harness)
    page.check("#countdown-toggle")

    # When the shutter is pressed
    page.click("#shutter-btn")

    # Then a countdown is shown and the photo is taken after it
    page.wait_for_selector("#countdown:not([hidden])")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^[123]$"), use_inner_text=True)
    page.wait_for_selector("#thumbs .thumb[data-slot='0'][data-filled='true']")
    expect(page.locator("#countdown")).to_be_hidden()
    harness.assert_clean()


REFUSE_CAMERA = """
navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('refused', 'NotAllowedError'));
"""


def test_refused_camera_falls_back_to_files_downscaled_on_the_device(
    open_page: Callable[..., Harness], tmp_path: Path
) -> None:
    # Given a consented visitor whose browser refuses the camera
    api, harness = on_capture_view(open_page, init_script=REFUSE_CAMERA)
    page = harness.page

    # When they try the camera
    page.click("#camera-start")

    # Then they are told so and offered the file picker (front camera, several images)
    page.wait_for_selector("#file-fallback:not([hidden])")
    expect(page.locator("#camera-message")).to_contain_text("not allowed", use_inner_text=True)
    expect(page.locator("#file-input")).to_have_attribute("accept", "image/*")
    expect(page.locator("#file-input")).to_have_attribute("capture", "user")
    expect(page.locator("#file-input")).to_have_attribute("multiple", re.compile(".*"))

    # When three large photos are picked and sent
    files = photo_files(tmp_path, [(1800, 1350), (1000, 2000), (640, 480)])
    page.set_input_files("#file-input", [str(f) for f in files])
    page.wait_for_selector("#thumbs .thumb[data-slot='2'][data-filled='true']")
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then each part is a JPEG whose longest side is at most 720 px, aspect ratio kept, never upscaled
    parts = selfie_parts(api)
    sizes = [image_info(p.data) for p in parts]
    assert [s[0] for s in sizes] == ["JPEG", "JPEG", "JPEG"]
    assert sizes[0][1:] == (720, 540)
    assert sizes[1][1:] == (360, 720)
    assert sizes[2][1:] == (640, 480)
    harness.assert_clean()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_refusal_is_explained_in_words(open_page: Callable[..., Harness], tmp_path: Path, lang: str) -> None:
    # Given a consented visitor with three photos ready, in English or Korean
    api, harness = on_capture_view(open_page, locale="ko-KR" if lang == "ko" else "en-US")
    page = harness.page
    strings = harness.strings(lang)
    fill_with_files(harness, photo_files(tmp_path, [(400, 300)] * 3, "JPEG"))
    shown: dict[str, str] = {}

    for code in RETAKE_CODES:
        # When the server refuses the photos for quality
        api.queue("selfie", error(422, code))
        page.click("#send-btn")
        page.wait_for_selector(f"#capture-result[data-code='{code}']")

        # Then the exact reason is shown in words and the photos can be retaken
        expect(page.locator("#capture-result")).to_have_text(strings["error." + code], use_inner_text=True)
        text = page.inner_text("#capture-result")
        assert code not in text
        shown[code] = text
        expect(page.locator("[data-testid='retake-1']")).to_be_visible()
    if lang == "ko":
        assert all(HANGUL.search(text) for text in shown.values())
    assert len(set(shown.values())) == len(RETAKE_CODES)
    harness.screenshot(f"register-retake-reason-{lang}")

    for reply in STAY_ERRORS:
        # When the upload fails for an image, format, conflict or server reason
        assert reply.body is not None
        code = reply.body["error"]["code"]
        api.queue("selfie", reply)
        page.click("#send-btn")
        page.wait_for_selector(f"#capture-result[data-code='{code}']")

        # Then that reason is explained in words
        expect(page.locator("#capture-result")).to_have_text(strings["error." + code], use_inner_text=True)

    # When the visitor is rate limited
    api.queue("selfie", error(429, "rate_limited", {"Retry-After": "7"}))
    page.click("#send-btn")
    page.wait_for_selector("#capture-result[data-code='rate_limited']")
    expect(page.locator("#capture-result")).to_have_text(
        strings["error.rate_limited"].replace("{seconds}", "7"), use_inner_text=True
    )

    # When the network is down (the request aborts), after the rate limit has passed
    page.wait_for_function("() => !document.querySelector('#send-btn').disabled", timeout=20_000)
    api.queue("selfie", Reply(0, None, abort=True))
    page.click("#send-btn")
    page.wait_for_selector("#capture-result[data-code='network_error']")
    expect(page.locator("#capture-result")).to_have_text(strings["error.network"], use_inner_text=True)
    assert len(api.calls_to("POST", "/selfie")) == len(RETAKE_CODES) + len(STAY_ERRORS) + 2
    harness.assert_clean()


def test_idempotency_key_is_kept_for_a_retry_and_renewed_for_new_photos(
    photos_ready: VisitorPage, tmp_path: Path
) -> None:
    # Given a consented visitor with photos ready whose first upload fails on the network
    api, harness = photos_ready
    page = harness.page
    api.queue("selfie", Reply(0, None, abort=True))
    page.click("#send-btn")
    page.wait_for_selector("#capture-result[data-code='network_error']")

    # When the same photos are sent again, then one is retaken and they are sent once more
    api.queue("selfie", error(422, "too_dark"))
    page.click("#send-btn")
    page.wait_for_selector("#capture-result[data-code='too_dark']")
    page.click("[data-testid='retake-1']")
    page.set_input_files("#file-input", [str(photo_files(tmp_path, [(300, 400)])[0])])
    page.wait_for_selector("#thumbs .thumb[data-slot='0'][data-filled='true']")
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then the retry reused the key and the new set of photos got a new one
    keys = [c.headers["idempotency-key"] for c in api.calls_to("POST", "/selfie")]
    assert len(keys) == 3
    assert keys[0] == keys[1]
    assert keys[2] != keys[1]
    harness.assert_clean()


@pytest.mark.parametrize(
    ("reply", "view", "message"),
    [
        (error(410, "invite_expired"), "expired", "This invitation has expired"),
        (error(410, "invite_revoked"), "expired", "This invitation was cancelled"),
        (error(401, "invalid_token"), "invalid", "This link does not work"),
        (error(409, "consent_required"), "notice", "Please read the notice and give your consent first."),
        (error(409, "consent_version_mismatch"), "notice", "The notice has changed."),
    ],
)
def test_upload_errors_that_change_the_step(photos_ready: VisitorPage, reply: Reply, view: str, message: str) -> None:
    # Given a consented visitor with photos ready
    api, harness = photos_ready
    page = harness.page

    # When the upload is refused for the invite or the consent
    api.queue("selfie", reply)
    page.click("#send-btn")

    # Then the page moves to the right step and says why
    wait_view(harness, view)
    expect(page.locator(f"#view-{view}")).to_contain_text(message, use_inner_text=True)
    if view == "notice":
        expect(page.locator("#consent-checkbox")).not_to_be_checked()
    harness.assert_clean()


@pytest.mark.parametrize(
    ("status", "view"),
    [
        ("invited", "notice"),
        ("consented", "capture"),
        ("enrolled", "enrolled"),
        ("erased", "erased"),
        ("expired", "expired"),
    ],
)
def test_page_resumes_at_the_step_of_the_status(open_page: Callable[..., Harness], status: str, view: str) -> None:
    # Given an invite in each state
    api = FakeRegistrationApi(status)

    # When the visitor (re)opens the link
    harness = open_register(open_page, api)

    # Then the page resumes at the matching step; delete is offered only while there is something to delete
    wait_view(harness, view)
    page = harness.page
    if status in {"invited", "consented", "enrolled"}:
        expect(page.locator("#delete-btn")).to_be_visible()
    else:
        expect(page.locator("#delete-btn")).to_be_hidden()
    if status == "enrolled":
        expect(page.locator("#claim-code")).to_have_text(CLAIM_CODE, use_inner_text=True)
        assert_qr_encodes(page, "#claim-qr", CLAIM_CODE)
    if status == "erased":
        expect(page.locator("#receipt")).to_be_hidden()
    assert harness.get_user_media_calls() == 0
    harness.assert_clean()


@pytest.mark.parametrize(
    ("reply", "view"),
    [
        (error(410, "invite_revoked"), "expired"),
        (error(401, "invalid_token"), "invalid"),
        (error(404, "not_found"), "invalid"),
        (error(503, "service_unavailable", {"Retry-After": "3"}), "error"),
        (Reply(0, None, abort=True), "error"),
    ],
)
def test_status_failures(open_page: Callable[..., Harness], reply: Reply, view: str) -> None:
    # Given the status request fails
    api = FakeRegistrationApi("invited")
    api.queue("status", reply)

    # When the page loads
    harness = open_register(open_page, api)

    # Then it shows the matching view; a transient failure can be retried
    wait_view(harness, view)
    if view == "error":
        harness.page.click("#retry-load")
        wait_view(harness, "notice")
    harness.assert_clean()


def test_language_follows_the_browser_and_the_switch(open_page: Callable[..., Harness]) -> None:
    # Given a Korean browser
    _, harness = opened_at(open_page, "invited", locale="ko-KR")
    page = harness.page

    # Then the page and the server's notice text are in Korean
    assert page.evaluate("document.documentElement.lang") == "ko"
    expect(page.locator("#notice-heading")).to_have_text("시작하기 전에: 얼굴 정보 처리 안내", use_inner_text=True)
    expect(page.locator("#notice-text")).to_contain_text("사진은 저장하지 않습니다", use_inner_text=True)
    expect(page.locator("#notice-site")).to_have_text("Sejong Complex, Building 6", use_inner_text=True)
    expect(page.locator("#notice-window")).to_contain_text("2026. 11. 28.", use_inner_text=True)
    expect(page.locator("#notice-controller")).to_be_hidden()
    expect(page.locator("#notice-data")).to_be_hidden()
    expect(page.locator("#notice-full-text-only")).to_be_visible()
    expect(page.locator("#consent-submit")).to_have_text("동의하고 계속하기", use_inner_text=True)
    expect(page.locator("#lang-switch")).to_have_text("English", use_inner_text=True)
    harness.screenshot("register-notice-ko")

    # When the visitor switches language
    page.click("#lang-switch")

    # Then everything is in English, including the notice, and the choice survives a reload
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator("#notice-heading")).to_have_text(
        "Before you start: how your face data is used", use_inner_text=True
    )
    expect(page.locator("#notice-text")).to_contain_text("photos are never stored", use_inner_text=True)
    expect(page.locator("#notice-controller")).to_have_text(NOTICE["controller"], use_inner_text=True)
    expect(page.locator("#notice-full-text-only")).to_be_hidden()
    expect(page.locator("#lang-switch")).to_have_text("한국어", use_inner_text=True)
    page.reload()
    wait_view(harness, "notice")
    assert page.evaluate("document.documentElement.lang") == "en"
    harness.assert_clean()


def test_per_language_notice_fields_are_shown_in_korean(open_page: Callable[..., Harness]) -> None:
    # Given a notice whose structured fields carry both languages
    api = FakeRegistrationApi("invited")
    api.queue("notice", Reply(200, NOTICE_LOCALIZED))

    # When a Korean visitor opens the page
    harness = open_register(open_page, api, locale="ko-KR")
    wait_view(harness, "notice")
    page = harness.page

    # Then the summary rows are shown in Korean
    expect(page.locator("#notice-controller")).to_have_text("건물 관리 주체", use_inner_text=True)
    expect(page.locator("#notice-data")).to_have_text("암호화된 얼굴 특징 정보", use_inner_text=True)
    expect(page.locator("#notice-retention")).to_have_text("방문 종료 1시간 후까지", use_inner_text=True)
    expect(page.locator("#notice-full-text-only")).to_be_hidden()
    harness.assert_clean()


def test_every_string_exists_in_both_languages(open_page: Callable[..., Harness]) -> None:
    # Given the page's string tables
    harness = open_page()
    harness.page.goto(f"{harness.base}/kiosk")
    english, korean = harness.strings("en"), harness.strings("ko")

    # Then both languages have the same keys, no empty text, the same placeholders, and Korean is Korean
    assert english.keys() == korean.keys()
    for key in english:
        assert english[key].strip() and korean[key].strip(), key
        assert sorted(re.findall(r"\{\w+\}", english[key])) == sorted(re.findall(r"\{\w+\}", korean[key])), key
        if key not in {"app.name", "lang.switch"}:
            assert HANGUL.search(korean[key]), key
    for code in RETAKE_CODES:
        assert f"error.{code}" in english


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_no_horizontal_overflow_at_360_px(open_page: Callable[..., Harness], tmp_path: Path, locale: str) -> None:
    # Given a 360 px wide phone
    api = FakeRegistrationApi("invited")
    harness = open_register(open_page, api, locale=locale, width=360, height=740)
    page = harness.page
    lang = locale[:2]
    overflow = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"

    # When the visitor goes through every step
    wait_view(harness, "notice")
    widths = {"notice": page.evaluate(overflow)}
    harness.screenshot(f"register-360-notice-{lang}")
    page.check("#consent-checkbox")
    page.check("#consent-biometric")
    page.click("#consent-submit")
    wait_view(harness, "capture")
    fill_with_files(harness, photo_files(tmp_path, [(640, 480)] * 3, "JPEG"))
    api.queue("selfie", error(422, "inconsistent_faces"))
    page.click("#send-btn")
    page.wait_for_selector("#capture-result[data-code='inconsistent_faces']")
    widths["capture"] = page.evaluate(overflow)
    harness.screenshot(f"register-360-capture-{lang}")
    page.click("#send-btn")
    wait_view(harness, "enrolled")
    widths["enrolled"] = page.evaluate(overflow)
    harness.screenshot(f"register-360-enrolled-{lang}")
    page.click("#delete-btn")
    widths["delete"] = page.evaluate(overflow)
    page.click("#delete-confirm-btn")
    wait_view(harness, "erased")
    widths["erased"] = page.evaluate(overflow)
    harness.screenshot(f"register-360-erased-{lang}")

    # Then no step scrolls sideways
    assert all(width <= 360 for width in widths.values()), widths
    page.reload()
    wait_view(harness, "erased")
    harness.assert_clean()


def test_touch_targets_and_labels(open_page: Callable[..., Harness], tmp_path: Path) -> None:
    # Given the capture step with photos (a 360 px phone)
    _, harness = on_capture_view(open_page, width=360, height=740)
    page = harness.page
    fill_with_files(harness, photo_files(tmp_path, [(640, 480)] * 3, "JPEG"))

    # Then every visible button is at least 44 px tall and has an accessible name
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter((b) => b.offsetParent !== null)
            .map((b) => [b.id || b.dataset.testid, b.getBoundingClientRect().height,
                         (b.getAttribute('aria-label') || b.textContent).trim()])"""
    )
    assert sizes
    for name, height, label in sizes:
        assert height >= 44, (name, height)
        assert label, name
    expect(page.locator("[data-testid='retake-2']")).to_have_attribute("aria-label", "Retake photo 2")
    expect(page.locator("#capture-result")).to_have_attribute("role", "alert")
    harness.assert_clean()


def test_delete_my_data_asks_first_and_shows_the_receipt(open_page: Callable[..., Harness]) -> None:
    # Given an enrolled visitor
    api, harness = opened_at(open_page, "enrolled")
    page = harness.page

    # When they press delete, then cancel
    page.click("#delete-btn")
    expect(page.locator("#delete-confirm")).to_be_visible()
    page.click("#delete-cancel-btn")

    # Then nothing was deleted
    expect(page.locator("#delete-confirm")).to_be_hidden()
    assert api.calls_to("DELETE", "") == []

    # When they press delete and confirm
    page.click("#delete-btn")
    page.click("#delete-confirm-btn")
    wait_view(harness, "erased")

    # Then one DELETE was sent and the receipt lists when and what was erased, in words
    assert len(api.calls_to("DELETE", "")) == 1
    expect(page.locator("#receipt-erased-at")).to_have_attribute("datetime", "2026-11-27T10:05:00Z")
    expect(page.locator("#receipt-erased-at")).not_to_be_empty()
    expect(page.locator("#receipt-items li")).to_have_text(
        ["Face template", "Consent record", "Claim code"], use_inner_text=True
    )
    expect(page.locator("#claim-qr")).to_be_hidden()
    harness.screenshot("register-erased-receipt-en")

    # When the language is switched, the receipt follows
    page.click("#lang-switch")
    expect(page.locator("#receipt-items li")).to_have_text(
        ["얼굴 특징 정보(템플릿)", "동의 기록", "본인 확인 코드"], use_inner_text=True
    )
    harness.assert_clean()


def test_delete_failure_is_explained(open_page: Callable[..., Harness]) -> None:
    # Given an enrolled visitor whose delete request is rate limited
    api = FakeRegistrationApi("enrolled")
    api.queue("delete", error(429, "rate_limited", {"Retry-After": "30"}))
    harness = open_register(open_page, api)
    page = harness.page
    wait_view(harness, "enrolled")

    # When they confirm the deletion
    page.click("#delete-btn")
    page.click("#delete-confirm-btn")

    # Then the page stays, explains the wait, and the claim code is still there
    page.wait_for_selector("#delete-error[data-code='rate_limited']")
    expect(page.locator("#delete-error")).to_contain_text("30 seconds", use_inner_text=True)
    expect(page.locator("#claim-code")).to_have_text(CLAIM_CODE, use_inner_text=True)
    harness.assert_clean()


def test_selfie_parts_are_parsed_independently_of_the_page() -> None:
    # Given a multipart body built by hand
    jpeg = io.BytesIO()
    Image.new("RGB", (10, 8)).save(jpeg, "JPEG")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + jpeg.getvalue() + b"\r\n--b--\r\n"
    )

    # When it is parsed by the test helper
    (part,) = parse_multipart(body, "multipart/form-data; boundary=b")

    # Then the part's name, type and bytes come back
    assert (part.name, part.filename, part.content_type) == ("image", "a.jpg", "image/jpeg")
    assert image_info(part.data) == ("JPEG", 10, 8)


# ---- issue 15 (items 2, 7, 8) and issue 11 (optional fourth and fifth selfie) --------------------------


def test_item2_after_delete_my_data_the_link_is_over_and_the_receipt_survives_a_reload(
    open_page: Callable[..., Harness],
) -> None:
    # Given an enrolled visitor who deletes their data
    _, harness = opened_at(open_page, "enrolled")
    page = harness.page
    page.click("#delete-btn")
    page.click("#delete-confirm-btn")
    wait_view(harness, "erased")
    expect(page.locator("#view-erased")).to_contain_text("can no longer be used", use_inner_text=True)

    # When the page is reloaded
    page.reload()
    wait_view(harness, "erased")

    # Then the receipt is still shown, from the status route: when, and what was deleted
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-erased-at")).to_have_attribute("datetime", "2026-11-27T10:05:00Z")
    expect(page.locator("#receipt-items li")).to_have_text(
        ["Face template", "Consent record", "Claim code"], use_inner_text=True
    )
    # And nothing offers to register again (no notice, no consent, no delete button)
    expect(page.locator("#consent-submit")).to_be_hidden()
    expect(page.locator("#delete-section")).to_be_hidden()
    harness.assert_clean()


def test_item2_a_consent_refused_with_invite_erased_shows_the_erased_view(open_page: Callable[..., Harness]) -> None:
    # Given a visitor reading the notice in one tab while the data was deleted from another
    api, harness = opened_at(open_page, "invited")
    page = harness.page
    api.status = "erased"
    api.receipt = {"erased_at": "2026-11-27T10:05:00Z", "items": ["consent"]}

    # When they consent
    page.check("#consent-checkbox")
    page.check("#consent-biometric")
    page.click("#consent-submit")

    # Then the API's 410 invite_erased leads to the erased view with its receipt, not to "expired"
    wait_view(harness, "erased")
    expect(page.locator("#receipt-items li")).to_have_text(["Consent record"], use_inner_text=True)
    harness.assert_clean()


def test_item7_file_mode_asks_for_three_photos_like_camera_mode(capture_view: VisitorPage, tmp_path: Path) -> None:
    # Given a consented visitor who uses photos from the phone
    api, harness = capture_view
    page = harness.page
    page.click("#use-files-btn")

    # When they pick a single photo
    page.set_input_files("#file-input", [str(photo_files(tmp_path, [(400, 300)])[0])])
    page.wait_for_selector("#thumbs .thumb[data-slot='0'][data-filled='true']")

    # Then it cannot be sent yet, and the page says three are needed, as in camera mode
    expect(page.locator("#send-btn")).to_be_disabled()
    page.wait_for_selector("#capture-result[data-code='need_more']")
    expect(page.locator("#capture-result")).to_contain_text("Three photos are needed", use_inner_text=True)

    # When two more are picked and sent
    (tmp_path / "more").mkdir()
    more = photo_files(tmp_path / "more", [(300, 400)] * 2)
    page.set_input_files("#file-input", [str(f) for f in more])
    page.wait_for_selector("#thumbs .thumb[data-slot='2'][data-filled='true']")
    expect(page.locator("#capture-result")).to_be_hidden()
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then one request carried three photos
    assert len(selfie_parts(api)) == 3
    harness.assert_clean()


def test_item8_hidden_status_no_longer_says_registered_after_deletion(photos_ready: VisitorPage) -> None:
    # Given a visitor who enrolled on this page (the live region says "You are registered.")
    _, harness = photos_ready
    page = harness.page
    page.click("#send-btn")
    wait_view(harness, "enrolled")
    expect(page.locator("#status-live")).to_have_text("You are registered.", use_inner_text=False)

    # When they delete their data
    page.click("#delete-btn")
    page.click("#delete-confirm-btn")
    wait_view(harness, "erased")

    # Then the hidden status announces the deletion, never the registration
    expect(page.locator("#status-live")).to_have_text(
        "Your data has been deleted. This link can no longer be used.", use_inner_text=False
    )
    assert "registered" not in (page.text_content("#status-live") or "").lower()
    harness.assert_clean()


def test_issue11_optional_fourth_and_fifth_selfie_with_the_camera(capture_view: VisitorPage, camera: Path) -> None:
    # Given a consented visitor who took the three required photos
    api, harness = capture_view
    page = harness.page
    expect(page.locator("#add-photo")).to_be_hidden()
    start_camera(harness)
    for slot in range(3):
        page.click("#shutter-btn")
        page.wait_for_selector(f"#thumbs .thumb[data-slot='{slot}'][data-filled='true']")

    # Then three can be sent as they are, and a fourth is offered as optional
    expect(page.locator("#send-btn")).to_be_enabled()
    expect(page.locator("#add-photo-btn")).to_be_visible()
    expect(page.locator("#add-photo-btn")).to_contain_text("optional", use_inner_text=True)
    expect(page.locator("#thumbs .thumb[data-slot='3']")).to_be_hidden()

    # When a fourth and a fifth are added and taken
    for slot in (3, 4):
        page.click("#add-photo-btn")
        expect(page.locator(f"#thumbs .thumb[data-slot='{slot}']")).to_be_visible()
        expect(page.locator("#step-label")).to_have_text(f"Optional photo {slot + 1} of 5", use_inner_text=True)
        page.click("#shutter-btn")
        page.wait_for_selector(f"#thumbs .thumb[data-slot='{slot}'][data-filled='true']")

    # Then no sixth is offered, and the optional ones carry labelled, 44 px remove and retake buttons
    expect(page.locator("#add-photo")).to_be_hidden()
    remove = page.locator("[data-testid='remove-5']")
    expect(remove).to_have_attribute("aria-label", "Remove optional photo 5")
    box = remove.bounding_box()
    assert box is not None and box["height"] >= 44, box
    harness.screenshot("register-capture-5-shots")

    # When the fifth is removed and the photos are sent
    remove.click()
    expect(page.locator("#thumbs .thumb[data-slot='4']")).to_be_hidden()
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then one request carried four JPEG parts named "image"
    parts = selfie_parts(api)
    assert [p.name for p in parts] == ["image"] * 4
    assert all(image_info(p.data)[0] == "JPEG" for p in parts)
    harness.assert_clean()


def test_issue11_optional_photos_from_files_in_korean(open_page: Callable[..., Harness], tmp_path: Path) -> None:
    # Given a Korean visitor who picks five photos at once from the phone
    api, harness = on_capture_view(open_page, locale="ko-KR")
    page = harness.page
    strings = harness.strings("ko")
    page.click("#use-files-btn")
    page.set_input_files("#file-input", [str(f) for f in photo_files(tmp_path, [(400, 300)] * 6, "JPEG")])

    # Then five are kept (three required and two optional), the sixth is left out with a note in Korean
    page.wait_for_selector("#thumbs .thumb[data-slot='4'][data-filled='true']")
    expect(page.locator("#camera-message")).to_contain_text(strings["capture.files_extra"], use_inner_text=True)
    expect(page.locator("#add-photo")).to_be_hidden()
    expect(page.locator("[data-testid='remove-4']")).to_have_attribute("aria-label", "선택 사진 4번 빼기")

    # When they are sent
    page.click("#send-btn")
    wait_view(harness, "enrolled")

    # Then one request carried five photos
    assert len(selfie_parts(api)) == 5
    harness.assert_clean()
