"""Fixtures for the page tests: the web folder behind a tiny static server (with the product's page headers),
and headless Chromium with a fake camera fed from LFW dev images. The API is faked per test with
``page.route`` (fakes.py)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from facegate.api.routes.pages import PAGE_HEADERS, STATIC_TYPES

try:
    import fakecam
except ImportError:  # tests/e2e became a package
    from e2e import fakecam  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[3]
WEB_DIR = REPO / "layers" / "facegate" / "web"
ARTIFACTS = REPO / "test-artifacts" / "pages"
STATIC_NAME = re.compile(r"^/static/([a-z0-9._-]+)$")
REGISTER_PAGE = re.compile(r"^/register/[A-Za-z0-9_-]+/?$")
CHROMIUM = Path(os.environ.get("FACEGATE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
INIT_SCRIPT = """
window.__fg = { csp: [], gum: 0 };
document.addEventListener('securitypolicyviolation', (e) => {
  window.__fg.csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => { window.__fg.gum += 1; return original(constraints); };
}
"""


def shared_dir() -> Path:
    """The project's shared folder (sibling ``../shared`` of the repo), overridable by FACEGATE_SHARED_DIR."""
    return Path(os.environ.get("FACEGATE_SHARED_DIR", REPO.parent / "shared"))


class _WebHandler(BaseHTTPRequestHandler):
    """Same path mapping as the API: /register/<token>, /kiosk, /static/<name>; everything else 404."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        file: Path | None = None
        if REGISTER_PAGE.match(path):
            file = WEB_DIR / "register.html"
        elif path == "/kiosk":
            file = WEB_DIR / "kiosk.html"
        elif match := STATIC_NAME.match(path):
            candidate = WEB_DIR / "static" / match.group(1)
            if candidate.suffix in STATIC_TYPES and candidate.is_file():
                file = candidate
        if file is None:
            self._send(404, b'{"error": {"code": "not_found", "message": "not found"}}', "application/json")
            return
        content_type = STATIC_TYPES.get(file.suffix, "text/html; charset=utf-8")
        self._send(200, file.read_bytes(), content_type)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in PAGE_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def web_base() -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of a static server for the web folder."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _lfw_images(count: int = 3) -> list[Path]:
    """``count`` images of the first LFW dev person (sorted by name) who has at least that many."""
    root = shared_dir() / "datasets" / "lfw-dev"
    if not root.is_dir():
        return []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) >= count:
            return images[:count]
    return []


@pytest.fixture(scope="session")
def lfw_images() -> list[Path]:
    images = _lfw_images()
    if not images:
        pytest.skip(f"LFW dev images not found under {shared_dir() / 'datasets' / 'lfw-dev'}")
    return images


@pytest.fixture(scope="session")
def fake_video(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A Y4M of three LFW faces (1 s each), or None when the data set is absent."""
    images = _lfw_images()
    if not images:
        return None
    return fakecam.write_y4m(images, tmp_path_factory.mktemp("fakecam") / "lfw.y4m", frames_per_image=15, fps=15)


@pytest.fixture(scope="session")
def browser(fake_video: Path | None) -> Iterator[Any]:
    """Headless Debian Chromium with a fake camera (the LFW video when available)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    args = list(CHROMIUM_ARGS)
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def camera(fake_video: Path | None) -> Path:
    """Marks a test that needs the LFW fake camera; skips when the data set is absent."""
    if fake_video is None:
        pytest.skip(f"LFW dev images not found under {shared_dir() / 'datasets' / 'lfw-dev'}: no fake camera video")
    return fake_video


@dataclass
class Harness:
    """A page plus what it reported: uncaught errors and Content-Security-Policy violations."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__fg ? window.__fg.csp : []"))

    def get_user_media_calls(self) -> int:
        return int(self.page.evaluate("window.__fg ? window.__fg.gum : 0"))

    def assert_clean(self) -> None:
        assert self.errors == [], f"uncaught page errors: {self.errors}"
        assert self.csp_violations() == [], "the page broke its Content-Security-Policy"

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def strings(self, lang: str) -> dict[str, str]:
        """The page's own UI strings for ``lang`` (from /static/i18n.js)."""
        return dict(self.page.evaluate("(lang) => import('/static/i18n.js').then((m) => m.STRINGS[lang])", lang))


@pytest.fixture
def open_page(browser: Any, web_base: str) -> Iterator[Callable[..., Harness]]:
    """Factory: a fresh browser context (viewport, locale, extra init script) and page."""
    contexts: list[Any] = []

    def factory(
        *, locale: str = "en-US", width: int = 412, height: int = 900, init_script: str | None = None
    ) -> Harness:
        context = browser.new_context(
            locale=locale, timezone_id="UTC", viewport={"width": width, "height": height}, device_scale_factor=1
        )
        contexts.append(context)
        context.add_init_script(INIT_SCRIPT)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.set_default_timeout(15_000)
        harness = Harness(page=page, base=web_base)
        page.on("pageerror", lambda error: harness.errors.append(str(error)))
        return harness

    yield factory
    for context in contexts:
        context.close()
