"""Issue 15: the visitor page shows the whole PIPA notice in Korean (not only place and window) from the API's
``summary``, and asks for the biometric data's consent separately from the notice's.

The notice is the real API's answer (in-process, in-memory services), served to the page by the fake API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from facegate.adapters import memory
from facegate.api.app import build_resolver
from facegate.api.catalog import ALL_ROUTERS
from facegate.api.deps import provide_services
from facegate.runtime import memory_services
from facegate.settings import Settings
from facegate_tools.local.inprocess import InProcessApi

from .conftest import Harness
from .fakes import TOKEN, FakeRegistrationApi, Reply
from .qrdecode import assert_qr_encodes
from .register_support import agree_in_two_steps, open_register, wait_view

ADMIN = {"sub": "admin-1", "cognito:groups": "[admins]"}


@pytest.fixture(scope="module")
def real_notice() -> dict[str, Any]:
    """``GET /register/{token}/notice`` of a fresh invite, from the real routes over in-memory adapters."""
    services = memory_services(Settings(), memory.MemoryFaceEngine)
    resolver = build_resolver(*ALL_ROUTERS)
    resolver.dependency_overrides[provide_services] = lambda: services
    api = InProcessApi(resolver)
    site = api.request("POST", "/sites", json_body={"name": "Sejong Complex", "timezone": "Asia/Seoul"}, claims=ADMIN)
    site_id = site.json()["site_id"]
    door = api.request("POST", f"/sites/{site_id}/doors", json_body={"name": "Gate"}, claims=ADMIN).json()
    now = datetime.now(UTC)
    window = {"valid_from": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    window["valid_until"] = (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"door_ids": [door["door_id"]], **window}
    invite = api.request("POST", f"/sites/{site_id}/invites", json_body=body, claims=ADMIN).json()
    notice: dict[str, Any] = api.request("GET", f"/register/{invite['token']}/notice").json()
    return notice


@pytest.fixture
def notice_api(real_notice: dict[str, Any]) -> FakeRegistrationApi:
    """The visitor routes of an invited visitor, whose notice is the real one."""
    api = FakeRegistrationApi("invited")
    api.queue("notice", Reply(200, real_notice))
    return api


def test_a_korean_visitor_reads_every_notice_item_in_korean_and_consents_twice(
    open_page: Callable[..., Harness], real_notice: dict[str, Any], notice_api: FakeRegistrationApi
) -> None:
    # Given the real notice served to a Korean browser
    accepted = {"consent_version": real_notice["consent_version"], "accepted_at": "2026-12-06T09:59:00Z"}
    notice_api.queue("consent", Reply(201, accepted))
    harness = open_register(open_page, notice_api, locale="ko-KR")
    page = harness.page
    wait_view(harness, "notice")

    # Then every item of the summary is shown, in Korean
    korean = {
        "#notice-controller": "개인정보 처리자",
        "#notice-purpose": "목적",
        "#notice-data": "생체인식정보(민감정보)",
        "#notice-not-stored": "셀피 사진",
        "#notice-retention": "자동으로 삭제",
        "#notice-rights": "열람",
        "#notice-refusal": "거부할 권리",
        "#notice-third-parties": "제3자",
        "#notice-biometric": "별도",
    }
    for selector, phrase in korean.items():
        expect(page.locator(selector)).to_be_visible()
        expect(page.locator(selector)).to_contain_text(phrase, use_inner_text=True)
    expect(page.locator("#notice-full-text-only")).to_be_hidden()
    expect(page.locator("label[for='consent-biometric']")).to_contain_text("생체인식정보", use_inner_text=True)
    harness.screenshot("register-notice-pipa-ko")

    # When the visitor agrees to the notice only (Then they cannot go on: the biometric data needs its own
    # consent), and gives that too and continues
    agree_in_two_steps(harness)
    # Then the consent is sent for the notice's version
    (call,) = notice_api.calls_to("POST", "/consent")
    assert json.loads(call.body) == {
        "consent_version": real_notice["consent_version"],
        "accepted": True,
        "biometric": True,
    }
    harness.assert_clean()


def test_on_a_computer_the_page_offers_its_link_as_a_qr_code_for_the_phone(
    open_page: Callable[..., Harness], notice_api: FakeRegistrationApi
) -> None:
    # Given the registration link opened on a computer (wide screen, mouse), e.g. from the invite mail
    harness = open_register(open_page, notice_api, width=1280, height=900)
    page = harness.page
    wait_view(harness, "notice")
    # Then it shows a QR code that encodes this page's link, to continue on the phone
    expect(page.locator("#phone-handoff")).to_be_visible()
    expect(page.locator("#handoff-qr")).to_have_attribute("data-text", f"{harness.base}/register/{TOKEN}")
    assert_qr_encodes(page, "#handoff-qr", f"{harness.base}/register/{TOKEN}")
    harness.screenshot("register-notice-desktop-handoff")
    harness.assert_clean()


def test_on_a_phone_the_page_shows_no_handoff_code(
    open_page: Callable[..., Harness], notice_api: FakeRegistrationApi
) -> None:
    # Given the registration link opened on a phone-sized screen
    harness = open_register(open_page, notice_api, width=412, height=900)
    wait_view(harness, "notice")
    # Then the notice is shown without the QR code (the phone is already there)
    expect(harness.page.locator("#notice-purpose")).to_be_visible()
    expect(harness.page.locator("#phone-handoff")).to_be_hidden()
    harness.assert_clean()
