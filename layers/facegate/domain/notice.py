"""The privacy notice a visitor reads before consenting, in English and Korean.

The notice is versioned: consent records the version the visitor saw, and enrollment checks
that the stored consent is for the current version.

Wording: no Korean particle follows an interpolated name (a particle such as 은/는 depends on how the
name's last syllable sounds, which is unknown for a Latin name like "Demo Government Complex"; "은(는)"
reads as a form letter), so names are followed only by particles that never change (에서는, 의);
English counts agree in number ("1 hour", "2 hours").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CONSENT_VERSION = "2026-11-28.1"


def count_en(value: float, unit: str) -> str:
    """``value`` with an English unit that agrees in number: "1 hour", "2 hours", "0.5 hours"."""
    return f"{value:g} {unit}" if value == 1 else f"{value:g} {unit}s"


@dataclass(frozen=True, slots=True)
class Notice:
    """What is stored, why, for how long, who controls it, and the visitor's rights."""

    consent_version: str
    controller: str
    purpose: str
    data_stored: tuple[str, ...]
    not_stored: tuple[str, ...]
    retention: str
    rights: tuple[str, ...]
    site_name: str
    valid_from: datetime
    valid_until: datetime
    text: dict[str, str]


def build_notice(
    site_name: str, valid_from: datetime, valid_until: datetime, grace_hours: float, audit_days: int
) -> Notice:
    """The notice for one invite. ``grace_hours`` after the window the template is deleted by TTL."""
    window_en = f"{valid_from:%Y-%m-%d %H:%M} to {valid_until:%Y-%m-%d %H:%M} UTC"
    window_ko = f"{valid_from:%Y-%m-%d %H:%M}부터 {valid_until:%Y-%m-%d %H:%M}까지(UTC)"
    grace = f"{grace_hours:g}"
    grace_en = count_en(grace_hours, "hour")
    audit_en = count_en(audit_days, "day")
    en = (
        f"{site_name} uses facegate to let you in without an ID card during your visit ({window_en}). "
        "If you agree, you take three selfies now. We turn them into a face template: a list of 128 numbers "
        "that describes your face. The selfies themselves are never stored. The template is encrypted and used "
        "only to recognise you at the doors you were invited to, during your visit. It stops working when your "
        f"visit ends and is deleted automatically within {grace_en} after that. Each door decision is logged "
        f"without any image and kept for {audit_en} for security. You can delete your data at any time "
        "with this link, and you can always enter with the host's help instead. Consent is optional."
    )
    ko = (
        f"{site_name}에서는 방문 기간({window_ko}) 동안 신분증 없이 출입할 수 있도록 facegate를 사용합니다. "
        "동의하시면 지금 셀피 세 장을 촬영합니다. 사진은 얼굴 특징을 나타내는 128개의 숫자(얼굴 템플릿)로 "
        "변환되며, 사진 자체는 저장하지 않습니다. 템플릿은 암호화되어 초대받은 출입문에서 방문 기간 동안 "
        "본인 확인에만 사용됩니다. 방문이 끝나면 즉시 사용이 중지되고, 그 후 "
        f"{grace}시간 이내에 자동으로 삭제됩니다. 출입 판정 기록은 이미지 없이 보안 목적으로 {audit_days}일간 "
        "보관됩니다. 이 링크에서 언제든지 데이터를 삭제할 수 있으며, 동의하지 않으셔도 담당자의 안내로 출입할 수 "
        "있습니다. 동의는 선택 사항입니다."
    )
    return Notice(
        consent_version=CONSENT_VERSION,
        controller=f"{site_name} (the building operator), with facegate as processor",
        purpose="Recognise you at the doors you were invited to, during your visit only.",
        data_stored=(
            "an encrypted face template (128 numbers) made from your selfies",
            "your consent record (notice version and time)",
            "the invite: doors, visit window, and the optional display name your host entered",
            "door decisions (time, door, grant or deny, score) without any image",
        ),
        not_stored=("your selfies or any door camera image", "your location outside this site"),
        retention=(
            f"The template stops working when your visit ends and is deleted within {grace_en} after it; "
            f"door decisions are kept for {audit_en} without images."
        ),
        rights=(
            "withdraw consent and erase your data at any time with this link",
            "enter with the host's help instead of the camera",
            "ask the building operator for access to, or correction of, your data",
        ),
        site_name=site_name,
        valid_from=valid_from,
        valid_until=valid_until,
        text={"en": en, "ko": ko},
    )
