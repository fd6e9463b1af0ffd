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

CONSENT_VERSION = "2026-12-06.1"
"""Bumped when the notice's content changed (2026-12-06: every item Korea's PIPA asks of sensitive data, in both
languages, with the separate consent to the biometric data): an older consent no longer enrolls."""
LANGUAGES = ("en", "ko")


def count_en(value: float, unit: str) -> str:
    """``value`` with an English unit that agrees in number: "1 hour", "2 hours", "0.5 hours"."""
    return f"{value:g} {unit}" if value == 1 else f"{value:g} {unit}s"


@dataclass(frozen=True, slots=True)
class NoticeSummary:
    """The notice's items in one language, as PIPA (Art. 15, 22, 23) asks for sensitive (biometric) data.

    Attributes:
        controller: who decides on the processing (the building operator) and who processes for it.
        purpose: why the data is processed.
        items: what personal data is processed.
        not_stored: what is never stored (the selfies, door camera images).
        retention: how long each item is kept.
        refusal: the right to refuse consent and what refusing means for the visitor.
        rights: the rights of access, correction, erasure and withdrawal, and how to use them.
        biometric_consent: the separate consent to the biometric data (a sensitive item) the visitor gives.
        third_parties: to whom the data is provided (nobody) and who processes it on the controller's behalf.
    """

    controller: str
    purpose: str
    items: tuple[str, ...]
    not_stored: tuple[str, ...]
    retention: str
    refusal: str
    rights: tuple[str, ...]
    biometric_consent: str
    third_parties: str


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
    summary: dict[str, NoticeSummary]
    """The same items per language (``en``, ``ko``)."""
    pose_order: tuple[str, ...] = ()
    """The head poses the first three selfies must show, in order, where the site checks liveness at enrollment
    (``high``: e.g. straight, left, right); empty where it does not."""


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
        summary=_summaries(site_name, grace_hours, audit_days),
    )


def _summaries(site_name: str, grace_hours: float, audit_days: int) -> dict[str, NoticeSummary]:
    grace_en = count_en(grace_hours, "hour")
    audit_en = count_en(audit_days, "day")
    en = NoticeSummary(
        controller=(
            f"{site_name} (the building operator) is the controller of your data; facegate processes it on the "
            "operator's behalf. Ask the operator's reception or your host about your data."
        ),
        purpose="To recognise you at the doors you were invited to, during your visit only (building access).",
        items=(
            "Biometric data (sensitive): an encrypted face template, 128 numbers made from your selfies",
            "Your consent record (notice version and time)",
            "The invite: doors, visit window, the display name and e-mail address your host entered",
            "Door decisions: time, door, grant or deny, without any image",
        ),
        not_stored=("Your selfies or any door camera image", "Your location outside this site"),
        retention=(
            f"The face template stops working when your visit ends and is deleted automatically within "
            f"{grace_en} after it, or at once when you delete it. The invite and your e-mail address are deleted "
            f"with it; door decisions are kept for {audit_en} without images for security."
        ),
        refusal=(
            "You may refuse. If you do not consent, no face data is collected, and you enter the building the "
            "usual way, with your host's or the reception's help: refusing costs you nothing but the "
            "camera shortcut."
        ),
        rights=(
            "Access: this page shows your registration status and what is stored",
            "Correction: take new selfies with this link, or ask your host to correct the invite",
            "Erasure and withdrawal: delete your data at any time with “Delete my data” on this page",
            "Ask the building operator about access, correction, suspension or erasure of your data",
        ),
        biometric_consent=(
            "Separate consent to biometric data: your face template is sensitive data under Korea's Personal "
            "Information Protection Act, so we ask for this consent separately from the other items."
        ),
        third_parties="Your data is not provided to any third party; it is used only at this site's doors.",
    )
    ko = NoticeSummary(
        controller=(
            f"개인정보 처리자는 건물 운영자({site_name})이며, facegate가 운영자를 대신하여 처리합니다. "
            "개인정보에 관한 문의는 운영자의 안내데스크 또는 초대한 담당자에게 해 주세요."
        ),
        purpose="초대받은 출입문에서 방문 기간 동안에만 본인을 확인하여 출입을 허용하기 위한 목적입니다.",
        items=(
            "생체인식정보(민감정보): 셀피로 만든 암호화된 얼굴 템플릿(128개의 숫자)",
            "동의 기록(안내문 버전과 동의 시각)",
            "초대 정보: 출입문, 방문 기간, 담당자가 입력한 표시 이름과 이메일 주소",
            "출입 판정 기록: 시각, 출입문, 허용 또는 거부(이미지 없음)",
        ),
        not_stored=("셀피 사진과 출입문 카메라 영상", "이 건물 밖에서의 위치 정보"),
        retention=(
            f"얼굴 템플릿은 방문이 끝나면 사용이 중지되고 그 후 {grace_hours:g}시간 이내에 자동으로 삭제되며, "
            "직접 삭제하시면 즉시 삭제됩니다. 초대 정보와 이메일 주소도 함께 삭제됩니다. 출입 판정 기록은 "
            f"이미지 없이 보안 목적으로 {audit_days}일간 보관됩니다."
        ),
        refusal=(
            "동의를 거부할 권리가 있습니다. 동의하지 않으시면 얼굴 정보를 수집하지 않으며, 담당자나 "
            "안내데스크의 안내로 평소와 같이 출입하실 수 있습니다. 거부에 따른 불이익은 얼굴 인식 출입을 "
            "이용할 수 없다는 점뿐입니다."
        ),
        rights=(
            "열람: 이 페이지에서 등록 상태와 저장된 정보를 확인할 수 있습니다",
            "정정: 이 링크로 셀피를 다시 촬영하거나, 담당자에게 초대 정보의 정정을 요청할 수 있습니다",
            "삭제 및 동의 철회: 이 페이지의 ‘내 정보 삭제’로 언제든지 삭제할 수 있습니다",
            "건물 운영자에게 개인정보의 열람, 정정, 처리정지, 삭제를 요구할 수 있습니다",
        ),
        biometric_consent=(
            "생체인식정보 처리에 대한 별도 동의: 얼굴 템플릿은 개인정보 보호법상 민감정보이므로 다른 항목과 "
            "구분하여 별도로 동의를 받습니다."
        ),
        third_parties="개인정보를 제3자에게 제공하지 않으며, 이 건물의 출입문에서만 사용합니다.",
    )
    return {"en": en, "ko": ko}
