"""Fixtures for the end-to-end tests against the real local stack.

* ``live_stack``: ONE ``facegate serve`` subprocess for the whole session (free port, its own state
  file, its log under ``test-artifacts/e2e/serve.log``), stopped with SIGTERM at the end. Set
  ``FACEGATE_E2E_LOCAL_FILE=.facegate/local.json`` to run against a stack that is already running.
* ``face_cast``: LFW dev people picked at test time with the real engine: person A, whose fused
  3-photo template matches another photo of A above the shipped identify threshold (through the
  same fake-camera path the browser uses), and a stranger B.
* ``chromium``: Debian's Chromium driven by Playwright on a dedicated thread (the page tests keep
  their own Playwright on the main thread; the sync API allows one per thread), one browser per
  fake-camera video.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import fakecam
import numpy as np
import pytest
from pages.conftest import CHROMIUM, CHROMIUM_ARGS, INIT_SCRIPT
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
STACK_START_TIMEOUT_S = 120.0
SELECTION_MARGIN = 0.006
"""Person A must clear the identify threshold by this much (cosine) in the simulated camera path, to
absorb the small differences of Chromium's colour conversion and JPEG encoder."""
STRANGER_GAP = 0.04
"""Stranger B must stay this far (cosine) below the claim threshold against A's template."""
BLUR_SCRIPT = """(on) => {
  const blurs = [['video', 'blur(28px)'], ['.thumb img', 'blur(14px)']];
  for (const [selector, filter] of blurs) {
    for (const element of document.querySelectorAll(selector)) element.style.filter = on ? filter : '';
  }
}"""
"""Blurs every element that shows a camera image (videos and selfie thumbnails; the QR canvas stays
sharp). Set through the CSSOM, which the pages' Content-Security-Policy (``style-src 'self'``) allows."""

PAGE_BACKGROUND = "rgb(243, 245, 248)"
"""``--bg`` of app.css on the root element."""

T = TypeVar("T")


# --- the local stack ----------------------------------------------------------------------------


def warm_up(state: dict[str, Any]) -> None:
    """One request to each Lambda function of the stack, one at a time.

    The local gateway runs handlers concurrently in one process while Powertools keeps per-request
    state on shared objects (``BaseRouter.current_event``, the resolver's ``context``); the first
    requests into a cold function are slow enough that a page's parallel asset loads can collide
    (sporadic 500 ``internal_error`` on ``/static/*``). See test_sdk_against_stack's
    ``test_concurrent_requests_keep_their_own_event`` (xfail) and the report.
    """
    api = state["api_url"]
    token = state.get("invite", {}).get("token", "x" * 43)
    for method, path in (
        ("GET", "/kiosk"),
        ("GET", "/static/app.css"),
        ("GET", "/openapi.json"),
        ("GET", f"/register/{token}/status"),
        ("POST", f"/doors/{state.get('door_id', 'door_x')}/verify"),
    ):
        request = urllib.request.Request(f"{api}{path}", method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as error:
            error.read()


def _wait_for_state(process: subprocess.Popen[bytes], state_file: Path, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STACK_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if state_file.is_file():
            state: dict[str, Any] = json.loads(state_file.read_text())
            return state
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
    process.kill()
    pytest.fail(f"facegate serve did not come up (exit {process.poll()}):\n{tail}")


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The state of a running local stack (the keys of ``.facegate/local.json``)."""
    existing = os.environ.get("FACEGATE_E2E_LOCAL_FILE")
    if existing:
        yield json.loads(Path(existing).read_text())
        return
    model_dir = Path(os.environ.get("FACEGATE_MODEL_DIR", REPO / "build" / "models"))
    if not (model_dir / "manifest.json").is_file():
        pytest.skip(f"no models under {model_dir}: run `make models`")
    from facegate_tools.local.emulators import free_port

    port = free_port()
    state_file = tmp_path_factory.mktemp("stack") / "local.json"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "serve.log"
    command = [
        sys.executable, "-m", "facegate_tools.cli", "serve", "--port", str(port),
        "--template", str(REPO / "template.yaml"), "--state-file", str(state_file),
    ]  # fmt: skip
    # A head-turn challenge lives 10 s on AWS; a kiosk page on a loaded test machine can take longer to prompt,
    # capture and send (the expiry itself is tested in tests/unit/test_liveness_protocol.py).
    environment = {
        **os.environ,
        "FACEGATE_MODEL_DIR": str(model_dir.resolve()),
        "FACEGATE_CHALLENGE_TTL_SECONDS": "60",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, env=environment)
    try:
        state = _wait_for_state(process, state_file, log)
        warm_up(state)
        yield state
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# --- people from LFW dev ------------------------------------------------------------------------


def i420_to_rgb(frame: bytes, width: int, height: int) -> Image.Image:
    """Inverse of :func:`fakecam.rgb_to_i420` (BT.601 limited range, chroma upsampled by repetition)."""
    area = width * height
    y = np.frombuffer(frame, np.uint8, area).reshape(height, width).astype(np.float32)
    u = np.frombuffer(frame, np.uint8, area // 4, area).reshape(height // 2, width // 2).astype(np.float32)
    v = np.frombuffer(frame, np.uint8, area // 4, area + area // 4).reshape(height // 2, width // 2)
    u_full = u.repeat(2, axis=0).repeat(2, axis=1)
    v_full = v.astype(np.float32).repeat(2, axis=0).repeat(2, axis=1)
    luma = (y - 16.0) / 219.0
    red = luma + (v_full - 128.0) / 224.0 * 1.402
    blue = luma + (u_full - 128.0) / 224.0 * 1.772
    green = (luma - 0.299 * red - 0.114 * blue) / 0.587
    rgb = np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0)
    return Image.fromarray(np.rint(rgb * 255.0).astype(np.uint8))


def camera_jpeg(path: Path, quality: int = 90) -> bytes:
    """What a page captures from the fake camera showing ``path``: letterboxed 640x480, I420, JPEG."""
    with Image.open(path) as image:
        frame = fakecam.letterbox(image)
    rgb = i420_to_rgb(fakecam.rgb_to_i420(frame), frame.width, frame.height)
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@dataclass(frozen=True)
class FaceCast:
    """Who plays whom in the end-to-end flows (LFW dev file paths and simulated similarities)."""

    a_name: str
    a_enroll: tuple[Path, Path, Path]
    a_probe: Path
    a_similarity: float
    """Cosine similarity of A's probe to A's fused template through the simulated camera path."""
    b_name: str
    b_probe: Path
    b_similarity: float
    """Cosine similarity of B's photo to A's fused template (simulated camera path)."""
    identify_threshold: float | None
    """Face-only threshold at a door with one eligible visitor (None: face-only entry is off there)."""
    claim_threshold: float
    engine: Any
    """The loaded FaceEngine (diagnostics: similarities of what the browser actually sent)."""


def _person_images(root: Path, minimum: int) -> Iterator[tuple[str, list[Path]]]:
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) >= minimum:
            yield person.name, images


def _best_combination(engine: Any, images: list[Path]) -> tuple[float, tuple[int, int, int], int] | None:
    """(similarity, enrollment indices, probe index) maximising the fused-template similarity."""
    from facegate.errors import FaceRejected
    from facegate.vision.engine import CONSISTENCY_THRESHOLD, fuse

    enrollable: dict[int, np.ndarray] = {}
    probes: dict[int, np.ndarray] = {}
    for index, path in enumerate(images):
        data = camera_jpeg(path)
        with contextlib.suppress(FaceRejected):
            enrollable[index] = engine.enroll_template(data).vector
        with contextlib.suppress(FaceRejected):
            probes[index] = engine.probe_template(data).vector
    best: tuple[float, tuple[int, int, int], int] | None = None
    for combo in itertools.combinations(sorted(enrollable), 3):
        vectors = np.stack([enrollable[i] for i in combo])
        if float((vectors @ vectors.T).min()) < CONSISTENCY_THRESHOLD:
            continue
        template = fuse(vectors)
        for probe_index, probe in probes.items():
            if probe_index in combo:
                continue
            similarity = float(template @ probe)
            if best is None or similarity > best[0]:
                best = (similarity, (combo[0], combo[1], combo[2]), probe_index)
    return best


KIOSK_FRAMES = 2
"""Frames the kiosk sends per attempt (the probe fuses them; the door policy's F)."""
ENROLL_IMAGES = 3
"""Selfies per template (the policy's K)."""


def door_thresholds(n_candidates: int = 1) -> tuple[float | None, float]:
    """(face-only threshold, claim threshold) of the door policy at the standard level for a door with
    ``n_candidates`` eligible visitors, templates of ENROLL_IMAGES and probes of KIOSK_FRAMES; the
    face-only one is None where face-only entry is off."""
    from facegate.domain.models import SecurityLevel
    from facegate.domain.policy import DoorPolicy, shipped_calibration

    policy = DoorPolicy(shipped_calibration())
    face_only = policy.face_only(SecurityLevel.STANDARD, n_candidates, ENROLL_IMAGES, KIOSK_FRAMES).threshold
    claim = policy.claim(SecurityLevel.STANDARD, ENROLL_IMAGES, KIOSK_FRAMES).threshold
    return face_only, 1.0 if claim is None else claim


@pytest.fixture(scope="session")
def face_cast(lfw_dev_dir: Path) -> FaceCast:
    """Person A (first LFW dev identity, by name, that clears the face-only threshold of a one-visitor door
    with margin, or the claim threshold where face-only entry is off) and stranger B."""
    from facegate.errors import FaceRejected
    from facegate.vision.engine import FaceEngine

    identify, claim = door_thresholds()
    a_threshold = claim if identify is None else identify

    try:
        engine = FaceEngine.load(Path(os.environ.get("FACEGATE_MODEL_DIR", REPO / "build" / "models")))
    except Exception as exc:
        pytest.skip(f"face engine unavailable ({exc}): run `make models`")
    chosen: tuple[str, list[Path], tuple[float, tuple[int, int, int], int]] | None = None
    for name, images in _person_images(lfw_dev_dir, 4):
        best = _best_combination(engine, images)
        if best is not None and best[0] >= a_threshold + SELECTION_MARGIN:
            chosen = (name, images, best)
            break
    if chosen is None:
        pytest.fail(f"no LFW dev identity clears {a_threshold:.4f} through the fake-camera path")
    a_name, a_images, (a_similarity, combo, probe_index) = chosen
    a_enroll = (a_images[combo[0]], a_images[combo[1]], a_images[combo[2]])
    template = engine.enroll_template([camera_jpeg(path) for path in a_enroll])
    for name, images in _person_images(lfw_dev_dir, 1):
        if name == a_name:
            continue
        try:
            probe = engine.probe_template(camera_jpeg(images[0]))
        except FaceRejected:
            continue
        similarity = engine.similarity(template, probe)
        if similarity < claim - STRANGER_GAP:
            return FaceCast(
                a_name=a_name,
                a_enroll=a_enroll,
                a_probe=a_images[probe_index],
                a_similarity=a_similarity,
                b_name=name,
                b_probe=images[0],
                b_similarity=similarity,
                identify_threshold=identify,
                claim_threshold=claim,
                engine=engine,
            )
    pytest.fail("no stranger found in LFW dev")


# --- Chromium -----------------------------------------------------------------------------------


class ChromiumThread:
    """Playwright (sync API) confined to one worker thread; every browser call goes through :meth:`run`."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2e-chromium")
        self._playwright: Any = self.run(lambda: sync_playwright().start())
        self._browsers: list[Any] = []

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``function(*args, **kwargs)`` on the Playwright thread and return its result (or raise)."""
        return self._pool.submit(function, *args, **kwargs).result(timeout=600)

    def launch(self, video: Path) -> Any:
        """A new headless Chromium whose fake camera plays ``video`` (Y4M) in a loop."""

        def start() -> Any:
            args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"]
            browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
            self._browsers.append(browser)
            return browser

        return self.run(start)

    def mark(self) -> tuple[int, frozenset[int]]:
        """What is open now: how many browsers were launched, and their pages' contexts (see :meth:`close_since`)."""

        def contexts() -> frozenset[int]:
            return frozenset(id(context) for browser in self._browsers for context in browser.contexts)

        return len(self._browsers), self.run(contexts)

    def close_since(self, mark: tuple[int, frozenset[int]]) -> None:
        """Close what was opened after ``mark``: browsers launched since, and contexts (pages) opened since in the
        browsers launched before. An open kiosk or visitor page keeps its camera, QR scanner and timers running."""
        launched, contexts = mark

        def stop() -> None:
            for browser in self._browsers[:launched]:
                for context in browser.contexts:
                    if id(context) not in contexts:
                        context.close()
            while len(self._browsers) > launched:
                self._browsers.pop().close()

        self.run(stop)

    def close(self) -> None:
        def stop() -> None:
            for browser in self._browsers:
                browser.close()
            self._playwright.stop()

        try:
            self.run(stop)
        finally:
            self._pool.shutdown(wait=False)


@pytest.fixture(scope="session")
def chromium() -> Iterator[ChromiumThread]:
    """Launches Debian's Chromium (never a downloaded one) with a chosen fake camera."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    pytest.importorskip("playwright.sync_api")
    thread = ChromiumThread()
    yield thread
    thread.close()


@pytest.fixture(autouse=True)
def _browser_closed_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's own browsers and pages are closed when it ends (browsers of module fixtures stay open): pages
    left open would keep decoding their fake cameras for the rest of the suite, which then slows itself down."""
    if "chromium" not in request.fixturenames:
        yield
        return
    chromium: ChromiumThread = request.getfixturevalue("chromium")
    mark = chromium.mark()
    yield
    chromium.close_since(mark)


@pytest.fixture
def still_browser(chromium: ChromiumThread, tmp_path: Path) -> Any:
    """A Chromium whose fake camera shows a plain grey still (for the console pages: no face is needed)."""
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 48), (128, 128, 128)).save(still)
    return chromium.launch(fakecam.write_y4m([still], tmp_path / "still.y4m", frames_per_image=2, fps=5))


@dataclass
class PageRecorder:
    """A page with its uncaught errors, and screenshots as artifacts (plus blurred copies for docs)."""

    page: Any
    prefix: str
    errors: list[str]
    network: list[str] = field(default_factory=list)
    """Page resources (``/static/...``) that failed to load, and requests that failed outright."""

    def styled(self) -> bool:
        """True when the page's stylesheet is applied (its background colour)."""
        return bool(self.page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == PAGE_BACKGROUND)

    def csp_violations(self) -> list[str]:
        """Content-Security-Policy violations the page reported (the init script collects them)."""
        return list(self.page.evaluate("window.__fg ? window.__fg.csp : []"))

    def screenshot(self, name: str, *, docs: bool = False, full_page: bool = True) -> Path:
        """``test-artifacts/e2e/<prefix>-<name>.png``; with ``docs`` also ``docs/<name>.png`` with
        every camera image blurred (:data:`BLUR_SCRIPT`)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if docs:
            (ARTIFACTS / "docs").mkdir(exist_ok=True)
            self.page.evaluate(BLUR_SCRIPT, True)
            self.page.wait_for_timeout(100)
            self.page.screenshot(path=str(ARTIFACTS / "docs" / f"{name}.png"), full_page=full_page)
            self.page.evaluate(BLUR_SCRIPT, False)
        return path


def new_page(browser: Any, prefix: str, *, width: int, height: int, locale: str = "en-US") -> PageRecorder:
    """A fresh context and page (call on the Playwright thread) with the page tests' init script."""
    context = browser.new_context(
        locale=locale, timezone_id="UTC", viewport={"width": width, "height": height}, device_scale_factor=1
    )
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    recorder = PageRecorder(page=page, prefix=prefix, errors=[])
    page.on("pageerror", lambda error: recorder.errors.append(str(error)))
    page.on("requestfailed", lambda request: recorder.network.append(f"{request.url} failed: {request.failure}"))
    page.on(
        "response",
        lambda response: (
            recorder.network.append(f"{response.url}: {response.status}")
            if "/static/" in response.url and response.status != 200
            else None
        ),
    )
    return recorder


NewPage = Callable[..., PageRecorder]
""":func:`new_page`: the browser steps that open their own pages take it first."""


@pytest.fixture(scope="session")
def open_recorded_page() -> NewPage:
    """:func:`new_page` as a fixture (tests call it through ``chromium.run``)."""
    return new_page


@dataclass(frozen=True)
class Stage:
    """The browser side of one test: Chromium on its Playwright thread, recorded pages (:func:`new_page`), and
    the test's own folder (``tmp_path``: fake-camera videos, downloads)."""

    chromium: ChromiumThread
    new_page: NewPage
    folder: Path

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` on the Playwright thread."""
        return self.chromium.run(function, *args, **kwargs)

    def launch(self, video: Path) -> Any:
        """A new Chromium whose fake camera plays ``video`` (Y4M) in a loop."""
        return self.chromium.launch(video)

    def camera(self, images: Sequence[Path | Image.Image], name: str, **video: Any) -> Any:
        """A new Chromium whose fake camera plays ``images`` in a loop, from ``<folder>/<name>.y4m``
        (``video``: :func:`fakecam.write_y4m`'s ``frames_per_image`` and ``fps``)."""
        return self.launch(fakecam.write_y4m(images, self.folder / f"{name}.y4m", **video))

    def page(self, browser: Any, prefix: str, **options: Any) -> PageRecorder:
        """A recorded page of ``browser`` (``options``: :func:`new_page`'s)."""
        return self.run(self.new_page, browser, prefix, **options)

    def open(self, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``step(new_page, *args, **kwargs)`` on the Playwright thread: a browser step that opens its pages."""
        return self.run(step, self.new_page, *args, **kwargs)


@pytest.fixture
def stage(chromium: ChromiumThread, open_recorded_page: NewPage, tmp_path: Path) -> Stage:
    return Stage(chromium, open_recorded_page, tmp_path)
