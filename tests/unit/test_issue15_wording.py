"""Issue 15 item 5: the notice's wording in Korean and English (particles after names, singular and plural)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from facegate.domain.notice import build_notice, count_en

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
END = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
# Particles whose form depends on the sound of the word before them (받침): 은/는, 이/가, 을/를, 와/과, (으)로.
VARIABLE_PARTICLE = "은는이가을를와과으로"


@pytest.mark.parametrize("site_name", ["Demo Government Complex", "정부세종청사", "Tower 7", "서울청사"])
def test_item5_korean_notice_puts_no_variable_particle_after_the_site_name(site_name: str) -> None:
    # Given a site whose name is Latin, Hangul with or without a final consonant, or ends in a digit
    # When the notice is built
    notice = build_notice(site_name, START, END, grace_hours=1, audit_days=90)

    # Then the Korean text names the site, with no "은(는)"-style form-letter particle and no particle whose
    # form depends on the name's last sound right after it
    ko = notice.text["ko"]
    assert site_name in ko
    assert not re.search(r"\((은|는|이|가|을|를|와|과|으)\)", ko), ko
    for match in re.finditer(re.escape(site_name), ko):
        following = ko[match.end() : match.end() + 1]
        assert not following or following not in VARIABLE_PARTICLE or ko[match.end() :].startswith("에서"), ko
    assert ko.startswith(f"{site_name}에서는 ")


@pytest.mark.parametrize(
    ("grace_hours", "audit_days", "hours", "days"),
    [
        (1, 90, "within 1 hour after", "for 90 days"),
        (2, 1, "within 2 hours after", "for 1 day"),
        (0.5, 30, "within 0.5 hours after", "for 30 days"),
    ],
)
def test_item5_english_notice_says_1_hour_not_hours_s(
    grace_hours: float, audit_days: int, hours: str, days: str
) -> None:
    # Given a retention grace and an audit retention
    # When the notice is built
    notice = build_notice("Demo Government Complex", START, END, grace_hours=grace_hours, audit_days=audit_days)

    # Then the English text and the retention summary use the right number, never "(s)"
    for text in (notice.text["en"], notice.retention):
        assert "(s)" not in text
        assert hours in text
        assert days in text


def test_item5_count_en() -> None:
    # Given counts of one, several and a fraction / When they are worded / Then they agree in number
    assert [count_en(1, "hour"), count_en(2, "hour"), count_en(0.5, "hour"), count_en(1.0, "day")] == [
        "1 hour",
        "2 hours",
        "0.5 hours",
        "1 day",
    ]
