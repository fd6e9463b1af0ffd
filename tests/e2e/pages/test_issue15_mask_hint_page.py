"""Issue 15, item 11 on the kiosk page: a deny whose answer carries ``hint: lower_mask`` asks the visitor to
lower their mask (icon + words, ko/en) next to the unchanged next step. Headless Chromium, fake camera; the
door API is faked and checks signatures with Python's HMAC."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Harness
from .fakes import FakeDoorApi, Reply, decision

DOOR_ID = "d_lobby-1"
KEY_ID = "tk_01HXYZ"
SECRET = "s3cret-mask"
SETTINGS_KEY = "facegate.kiosk.settings"
SETTINGS = {
    "apiUrl": "",
    "doorId": DOOR_ID,
    "keyId": KEY_ID,
    "secret": SECRET,
    "auto": False,
    "interval": 5,
    "liveness": False,
    "sideways": False,
}


def hinted_deny(next_step: str) -> Reply:
    """A deny as the API gives it for a masked face: next unchanged, hint lower_mask."""
    reply = decision("deny", next_step)
    assert reply.body is not None
    return Reply(200, {**reply.body, "hint": "lower_mask"})


def open_kiosk(open_page: Callable[..., Harness], api: FakeDoorApi, locale: str) -> Harness:
    script = f"localStorage.setItem({json.dumps(SETTINGS_KEY)}, {json.dumps(json.dumps(SETTINGS))});"
    harness = open_page(width=1280, height=800, init_script=script, locale=locale)
    api.install(harness.page)
    harness.page.goto(f"{harness.base}/kiosk")
    harness.page.wait_for_selector("body[data-ready='true']")
    harness.page.wait_for_function("() => document.querySelector('#kiosk-video').videoWidth > 0")
    return harness


@pytest.mark.parametrize(
    ("locale", "words", "next_step", "next_words"),
    [
        ("en-US", "Please lower your mask", "show_code", "code"),
        ("ko-KR", "마스크를 잠시 내려 주세요", "show_code", "코드"),
        ("en-US", "Please lower your mask", "see_reception", "reception"),
    ],
)
def test_item11_the_kiosk_asks_a_masked_visitor_to_lower_the_mask(
    open_page: Callable[..., Harness], camera: Path, locale: str, words: str, next_step: str, next_words: str
) -> None:
    # Given a kiosk whose check is denied with the hint lower_mask
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    api.replies.append(hinted_deny(next_step))
    harness = open_kiosk(open_page, api, locale)
    page = harness.page
    # When the visitor is checked
    page.click("#verify-btn")
    page.wait_for_selector("#result[data-decision='deny']")
    # Then the deny asks them to lower their mask, with an icon, and still says the next step
    hint = page.locator("#result-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text(words, use_inner_text=True)
    expect(page.locator("#result-hint svg")).to_be_visible()
    expect(page.locator("#result")).to_have_attribute("data-hint", "lower_mask")
    expect(page.locator("#result")).to_have_attribute("data-next", next_step)
    expect(page.locator("#result-next")).to_contain_text(next_words, use_inner_text=True)
    harness.screenshot(f"kiosk-mask-hint-{locale}-{next_step}")
    harness.assert_clean()


def test_item11_no_hint_no_mask_line(open_page: Callable[..., Harness], camera: Path) -> None:
    # Given a kiosk whose first check is a plain deny, then a masked deny, then a grant, then an unknown hint
    api = FakeDoorApi(key_id=KEY_ID, secret=SECRET, door_id=DOOR_ID)
    plain = decision("deny", "show_code")
    assert plain.body is not None
    api.replies.extend(
        [
            Reply(200, {**plain.body, "hint": None}),
            hinted_deny("show_code"),
            decision("grant"),
            Reply(200, {**plain.body, "hint": "smile_more"}),
        ]
    )
    harness = open_kiosk(open_page, api, "en-US")
    page = harness.page
    result, hint = page.locator("#result"), page.locator("#result-hint")
    expected: list[tuple[str, dict[str, Any]]] = [
        ("deny", {"hint": False}),
        ("deny", {"hint": True}),
        ("grant", {"hint": False}),
        ("deny", {"hint": False}),
    ]
    for index, (kind, shown) in enumerate(expected):
        # When the visitor is checked again
        page.click("#verify-btn")
        expect(page.locator("#verify-btn")).to_be_enabled()
        expect(result).to_have_attribute("data-decision", kind)
        assert len(api.calls) == index + 1
        # Then the mask line shows only for the masked deny (unknown hints are ignored)
        if shown["hint"]:
            expect(hint).to_be_visible()
            expect(result).to_have_attribute("data-hint", "lower_mask")
        else:
            expect(hint).to_be_hidden()
            expect(result).to_have_attribute("data-hint", "")
    harness.assert_clean()
