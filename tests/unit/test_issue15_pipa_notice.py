"""Issue 15: the visitor notice carries every item Korea's PIPA asks of sensitive (biometric) data, in both
languages, through the API (``GET /register/{token}/notice`` -> ``summary.en`` / ``summary.ko``).

Items (PIPA Art. 15, 22, 23): the controller, the purpose, the items processed, the retention, the right to
refuse and its consequence, the rights of access, correction and erasure, and a separate consent for the
biometric data. Each is checked for its substance in each language, not only for being present.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from facegate.adapters import memory
from facegate.domain.notice import CONSENT_VERSION, build_notice
from facegate.usecases.context import Services

SITE = "Sejong Complex"

REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "controller": {"en": ("controller", SITE), "ko": ("개인정보 처리자", SITE)},
    "purpose": {"en": ("recognise you", "doors", "visit"), "ko": ("목적", "출입문", "방문 기간")},
    "items": {
        "en": ("Biometric data (sensitive)", "face template", "consent record", "e-mail", "Door decisions"),
        "ko": ("생체인식정보(민감정보)", "얼굴 템플릿", "동의 기록", "이메일", "출입 판정 기록"),
    },
    "retention": {"en": ("deleted automatically within 1 hour", "90 days"), "ko": ("1시간 이내", "90일간")},
    "refusal": {
        "en": ("You may refuse", "no face data is collected", "host's"),
        "ko": ("거부할 권리", "수집하지 않으며", "불이익"),
    },
    "rights": {"en": ("Access", "Correction", "Erasure", "withdrawal"), "ko": ("열람", "정정", "삭제", "동의 철회")},
    "biometric_consent": {"en": ("Separate consent", "sensitive"), "ko": ("별도", "민감정보")},
}


@pytest.fixture
def notice(clock: Any, make_stack: Callable[[Services], Any], memory_services: Callable[..., Services]) -> Any:
    """The notice JSON of a fresh invite, as a visitor's phone reads it."""
    stack = make_stack(memory_services(memory.MemoryFaceEngine(), clock))
    stack.create_site()
    invite = stack.invite()
    response = stack.api.request("GET", f"/register/{invite['token']}/notice")
    assert response.status == 200, response.body
    return response.json()


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("item", sorted(REQUIRED))
def test_each_required_item_is_in_the_notice_in_both_languages(notice: Any, item: str, language: str) -> None:
    # Given the notice the API gives a visitor
    # When one required item is read in one language
    value = notice["summary"][language][item]
    text = " ".join(value) if isinstance(value, list) else value
    # Then it says what PIPA asks of that item, in that language
    for phrase in REQUIRED[item][language]:
        assert phrase in text, f"{item} ({language}) lacks {phrase!r}: {text}"


def test_the_korean_summary_is_korean_and_as_complete_as_the_english(notice: Any) -> None:
    # Given the two summaries
    en, ko = notice["summary"]["en"], notice["summary"]["ko"]
    # Then they carry the same items, every Korean item is written in Korean, and lists have the same length
    assert set(en) == set(ko) >= set(REQUIRED)
    for key, value in ko.items():
        for line in value if isinstance(value, list) else [value]:
            assert any("\uac00" <= char <= "\ud7a3" for char in line), f"{key}: {line}"
        if isinstance(value, list):
            assert len(value) == len(en[key]), key
    # And the existing fields stay (additive change) with the notice version the consent must name
    assert notice["consent_version"] == CONSENT_VERSION
    assert {"controller", "purpose", "data_stored", "retention", "rights", "text"} <= set(notice)


def test_the_retention_follows_the_settings_in_both_languages() -> None:
    # Given a deployment that keeps templates 2 hours after the visit and audit records 30 days
    built = build_notice(SITE, datetime(2026, 12, 7, 9, tzinfo=UTC), datetime(2026, 12, 7, 18, tzinfo=UTC), 2, 30)
    # Then both languages say so, with English counts in the plural
    assert "within 2 hours" in built.summary["en"].retention and "30 days" in built.summary["en"].retention
    assert "2시간 이내" in built.summary["ko"].retention and "30일간" in built.summary["ko"].retention


@pytest.mark.parametrize(
    ("extra", "status", "recorded"),
    [({"biometric": True}, 201, "separate"), ({}, 201, "not_stated"), ({"biometric": False}, 400, None)],
    ids=["separate", "not_stated", "false_is_no_consent"],
)
def test_the_separate_biometric_consent_is_recorded_in_the_audit(
    clock: Any,
    make_stack: Callable[[Services], Any],
    memory_services: Callable[..., Services],
    extra: dict[str, Any],
    status: int,
    recorded: str | None,
) -> None:
    # Given an invite and its notice
    stack = make_stack(memory_services(memory.MemoryFaceEngine(), clock))
    stack.create_site()
    token = stack.invite()["token"]
    version = stack.api.request("GET", f"/register/{token}/notice").json()["consent_version"]
    # When the visitor consents, with or without the separate consent to the biometric data
    body = {"consent_version": version, "accepted": True, **extra}
    response = stack.api.request("POST", f"/register/{token}/consent", json_body=body)
    # Then the consent is stored and the audit record says whether the separate consent was given
    # (false is no consent at all: refused like any other value but the literal true)
    assert response.status == status, response.body
    consents = [r for r in stack.services.audit.records if r.kind.value == "consent"]
    assert [r.details.get("biometric_consent") for r in consents] == ([recorded] if recorded else [])
