"""Steps of the visitor page tests (register.html in Chromium against :class:`fakes.FakeRegistrationApi`),
shared by the page test files."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

from .fakes import TOKEN, FakeRegistrationApi

if TYPE_CHECKING:
    from .conftest import Harness


def open_register(open_page: Callable[..., Harness], api: FakeRegistrationApi, **kwargs: Any) -> Harness:
    """A fresh page (``kwargs``: for ``open_page``) answered by ``api``, at the invite's registration link."""
    harness = open_page(**kwargs)
    api.install(harness.page)
    harness.page.goto(f"{harness.base}/register/{TOKEN}")
    return harness


def wait_view(harness: Harness, view: str) -> None:
    harness.page.wait_for_selector(f"body[data-view='{view}']")


def agree_in_two_steps(harness: Harness) -> None:
    """On the notice: tick the notice box (the page waits: the biometric data needs its own, separate consent),
    then the biometric box, agree, and wait for the capture view."""
    page = harness.page
    page.check("#consent-checkbox")
    expect(page.locator("#consent-submit")).to_be_disabled()
    page.check("#consent-biometric")
    expect(page.locator("#consent-submit")).to_be_enabled()
    page.click("#consent-submit")
    wait_view(harness, "capture")


def start_camera(harness: Harness) -> None:
    """Turn the camera on and wait until its video plays."""
    harness.page.click("#camera-start")
    harness.page.wait_for_function("() => document.querySelector('#camera-video').videoWidth > 0")
