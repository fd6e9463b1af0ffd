"""E-mails facegate sends, composed in both languages (Korean first, then English), and address checks.

Pure: no I/O. A mail never carries a face image, a template, a claim code or a score; the invite mail
carries the registration link (its token is the visitor's key, so the mail goes only to the address the
host entered). Interpolated names are followed only by particles that never change (see
:mod:`facegate.domain.notice`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from facegate.domain.notice import count_en

EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
"""An address SES accepts: an ASCII local part (at most 64 characters) and a dotted domain name; no spaces,
no line breaks (so no header injection), no display name."""
MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(EMAIL_PATTERN, re.ASCII)


def valid_email(address: str) -> bool:
    """True when ``address`` matches :data:`EMAIL_PATTERN` and has at most 254 characters."""
    return len(address) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(address) is not None


class MailKind(StrEnum):
    """What a mail is about (the local outbox and the logs show the kind, never the body)."""

    INVITE = "invite"
    ARRIVAL = "arrival"


@dataclass(frozen=True, slots=True)
class Mail:
    """One e-mail: plain text and HTML bodies of the same content."""

    to: str
    subject: str
    text: str
    html: str
    kind: MailKind


def _window(valid_from: datetime, valid_until: datetime, timezone_label: str) -> tuple[str, str]:
    en = f"{valid_from:%Y-%m-%d %H:%M} to {valid_until:%Y-%m-%d %H:%M} ({timezone_label})"
    ko = f"{valid_from:%Y-%m-%d %H:%M}부터 {valid_until:%Y-%m-%d %H:%M}까지({timezone_label})"
    return en, ko


def _section(paragraphs: list[str], link: str | None = None, link_label: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link is not None:
        safe = html.escape(link, quote=True)
        body += (
            f'<p><a href="{safe}" style="display:inline-block;padding:12px 20px;background:#1f5fbf;color:#fff;'
            f'text-decoration:none;border-radius:6px">{html.escape(link_label)}</a></p>'
            f'<p style="font-size:13px;color:#555">{safe}</p>'
        )
    return body


def _page(kind: MailKind, *sections: str) -> str:
    """An HTML mail; ``<meta name="facegate-kind">`` names its kind (the local outbox reads it)."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><meta name="facegate-kind" content="{kind.value}">'
        '</head><body style="font-family:sans-serif;line-height:1.5">' + "<hr>".join(sections) + "</body></html>"
    )


def invite_mail(
    to: str,
    site_name: str,
    host_label: str,
    valid_from: datetime,
    valid_until: datetime,
    timezone_label: str,
    registration_url: str,
    grace_hours: float,
) -> Mail:
    """The invite mail: who invites, when, the link (whose page shows its QR code), and what happens to the
    visitor's data. ``valid_from``/``valid_until`` are already in ``timezone_label``'s local time;
    ``grace_hours``: how long after the window the template is deleted."""
    window_en, window_ko = _window(valid_from, valid_until, timezone_label)
    grace_en = count_en(grace_hours, "hour")
    ko = [
        f"{host_label}님이 {site_name} 방문에 초대했습니다.",
        f"방문 기간: {window_ko}",
        "아래 링크를 휴대폰에서 열어 안내문을 읽고, 동의하시면 셀피 세 장으로 얼굴을 등록하세요. "
        "등록하면 초대받은 출입문을 신분증 없이 통과할 수 있습니다. 링크를 컴퓨터에서 열면 휴대폰으로 "
        "찍을 수 있는 QR 코드가 표시됩니다.",
        "사진은 저장하지 않습니다. 사진에서 만든 암호화된 얼굴 템플릿만 방문 기간 동안 사용되며, "
        f"방문이 끝난 뒤 {grace_hours:g}시간 이내에 자동으로 삭제됩니다. 같은 링크에서 언제든지 삭제할 수 "
        "있습니다. 동의는 선택 사항이며, 동의하지 않으셔도 담당자의 안내로 출입할 수 있습니다.",
        "이 링크는 본인만 사용하세요. 다른 사람에게 전달하지 마세요.",
    ]
    en = [
        f"{host_label} invites you to {site_name}.",
        f"Your visit: {window_en}",
        "Open the link below on your phone, read the notice and, if you agree, register your face with three "
        "selfies. You can then pass the doors you were invited to without an ID card. Opened on a computer, "
        "the page shows a QR code to scan with your phone.",
        "Your selfies are never stored. Only an encrypted face template made from them is used, during your "
        f"visit only, and it is deleted automatically within {grace_en} after your visit. You can delete it "
        "at any time with the same link. Consent is optional: you can always enter with your host's help.",
        "This link is yours alone: please do not forward it.",
    ]
    text = "\n\n".join([*ko, registration_url, "----", *en, registration_url]) + "\n"
    page = _page(
        MailKind.INVITE,
        _section(ko, registration_url, "얼굴 등록하기"),
        _section(en, registration_url, "Register your face"),
    )
    subject = f"[facegate] {site_name} 방문 초대 / Your visit to {site_name}"
    return Mail(to=to, subject=subject, text=text, html=page, kind=MailKind.INVITE)


def arrival_mail(
    to: str, site_name: str, visitor_label: str, door_name: str, at: datetime, timezone_label: str
) -> Mail:
    """The host's arrival notice: their visitor was first granted at a door (``at`` in local time)."""
    when = f"{at:%Y-%m-%d %H:%M} ({timezone_label})"
    ko = [f"{visitor_label}님이 {when}에 {site_name}의 출입문({door_name})을 통과했습니다."]
    en = [f"{visitor_label} arrived at {site_name}: first entry through {door_name} at {when}."]
    notes_ko = "이 알림은 초대할 때 도착 알림을 선택하셨기 때문에 발송되었습니다."
    notes_en = "You get this notice because you asked for it when you created the invite."
    text = "\n\n".join([*ko, notes_ko, "----", *en, notes_en]) + "\n"
    page = _page(MailKind.ARRIVAL, _section([*ko, notes_ko]), _section([*en, notes_en]))
    subject = f"[facegate] 방문객 도착 / Your visitor arrived: {visitor_label}"
    return Mail(to=to, subject=subject, text=text, html=page, kind=MailKind.ARRIVAL)
