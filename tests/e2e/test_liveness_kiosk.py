"""The head-turn challenge at the kiosk (issue 16), in a real headless Chromium against the real local stack.

The kiosk's camera is a canvas stream that shows, for each step the kiosk prompts (``#challenge[data-step]``),
a real photo of one east-asian-dev person in that pose (picked at test time with the real engine: frontal,
turned to their own left, turned to their right): a visitor who follows the prompts. The kiosk asks for
sideways turns only (the data sets have no usable up/down poses). Then the same visitor's frontal photo moved
in front of the camera as a flat plane, turned as asked (a printed photo or a screen): refused. Then the
granted request sent again, re-signed with a fresh nonce but its old challenge id: refused.

Screenshots: ``test-artifacts/e2e/liveness-*.png``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fakecam
import numpy as np
import pytest
from kiosk_support import kiosk_door, store_kiosk_settings
from pages.fakes import parse_multipart
from PIL import Image

from facegate_client import signature_headers

if TYPE_CHECKING:
    from conftest import NewPage, Stage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DECISION_TIMEOUT_MS = 60_000
MIN_YAW_TURN = 0.22
"""A chosen turned photo's yaw index differs from the frontal one by at least this (the check asks 0.2)."""
PLANE_TURN_DEG = 30.0
"""How far the flat photo is turned for each sideways step (the issue's attack corpus goes to 35)."""
FAKE_CAMERA = """
(() => {
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 480;
  const context = canvas.getContext('2d');
  window.__poses = {};
  window.__shown = [];
  const draw = () => {
    const box = document.querySelector('#challenge');
    const step = (box && box.dataset.step) || 'straight';
    const image = window.__poses[step] || window.__poses.straight;
    if (image) context.drawImage(image, 0, 0, 640, 480);
    else { context.fillStyle = '#000'; context.fillRect(0, 0, 640, 480); }
    if (window.__shown[window.__shown.length - 1] !== step) window.__shown.push(step);
  };
  draw();
  setInterval(draw, 20);
  const stream = canvas.captureStream(30);
  navigator.mediaDevices.getUserMedia = async () => stream;
})();
"""
"""The kiosk's camera: a canvas stream showing the pose image of the step the kiosk prompts."""
LOAD_POSES = """
async (poses) => {
  for (const [step, b64] of Object.entries(poses)) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    window.__poses[step] = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
  }
  return Object.keys(window.__poses).length;
}
"""


def camera_jpeg(image: Image.Image) -> bytes:
    """What the server receives of ``image`` shown to the kiosk: letterboxed to 640x480, JPEG at the kiosk's 0.9."""
    out = io.BytesIO()
    fakecam.letterbox(image).save(out, format="JPEG", quality=90)
    return out.getvalue()


def pose_jpeg_b64(image: Image.Image) -> str:
    out = io.BytesIO()
    fakecam.letterbox(image).save(out, format="JPEG", quality=95)
    return base64.b64encode(out.getvalue()).decode("ascii")


@dataclass(frozen=True)
class PoseCast:
    """One person of east-asian-dev: three photos to enroll, and a photo for each step of the kiosk's sideways
    challenge."""

    name: str
    enroll: tuple[Path, Path, Path]
    poses: dict[str, Path]
    """By the step the kiosk prompts (``#challenge[data-step]``): ``straight`` (frontal), ``left`` and ``right``
    (turned to their own left and right)."""


def _pick(engine: Any, root: Path) -> PoseCast | None:
    from facegate.domain.models import SecurityLevel
    from facegate.domain.policy import DoorPolicy, shipped_calibration
    from facegate.errors import FacegateError
    from facegate.vision.liveness import FrameObservation, Movement, check_challenge, fingerprint, pose_index

    threshold = DoorPolicy(shipped_calibration()).face_only(SecurityLevel.STANDARD, 1, 3, 3).threshold
    assert threshold is not None
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        seen: dict[Path, tuple[Any, float]] = {}
        for path in sorted(person.glob("*.jpg")):
            with contextlib.suppress(FacegateError, ValueError), Image.open(path) as opened:
                ((detection, descriptor, chip),) = engine.observe([camera_jpeg(opened)])
                observation = FrameObservation(detection.landmarks, descriptor, fingerprint(chip), 0)
                seen[path] = (observation, pose_index(detection.landmarks)[0])
        if len(seen) < 6:
            continue
        straight = min(seen, key=lambda p: abs(seen[p][1]))
        yaw0 = seen[straight][1]
        lefts = [p for p in seen if seen[p][1] - yaw0 >= MIN_YAW_TURN]
        rights = [p for p in seen if yaw0 - seen[p][1] >= MIN_YAW_TURN]
        for left in lefts:
            for right in rights:
                rest = [p for p in seen if p not in (straight, left, right)]
                if len(rest) < 3:
                    continue
                poses = {"straight": straight, "left": left, "right": right}
                verdicts = []
                for order in (("straight", "left", "right"), ("straight", "right", "left")):
                    observations = [
                        FrameObservation(o.landmarks, o.descriptor, o.fingerprint, step)
                        for step, name in enumerate(order)
                        for o in [seen[poses[name]][0]]
                    ]
                    verdicts.append(check_challenge([Movement(s) for s in order], observations))
                if not all(v.passed for v in verdicts):
                    continue
                try:
                    template = engine.enroll_template([path.read_bytes() for path in rest[:3]])
                except FacegateError:
                    continue
                fused = np.mean([seen[p][0].descriptor for p in poses.values()], axis=0)
                fused = fused / np.linalg.norm(fused)
                if float(template.vector @ fused) >= threshold + 0.02:
                    return PoseCast(person.name, (rest[0], rest[1], rest[2]), poses)
    return None


@pytest.fixture(scope="module")
def pose_cast(shared_dir: Path) -> PoseCast:
    root = shared_dir / "datasets" / "east-asian-dev"
    if not root.is_dir():
        pytest.skip(f"east-asian-dev not found under {root}")
    model_dir = REPO / "build" / "models"
    if not (model_dir / "manifest.json").is_file():
        pytest.skip(f"no models under {model_dir}: run `make models`")
    from facegate.vision.engine import FaceEngine

    cast = _pick(FaceEngine.load(model_dir), root)
    if cast is None:
        pytest.fail("no east-asian-dev person has frontal, left and right photos that pass the challenge")
    return cast


def plane_turned(image: Image.Image, yaw_deg: float) -> Image.Image:
    """``image`` (letterboxed) as a flat plane turned about its vertical axis by ``yaw_deg``, with perspective
    (focal length and distance 800 px)."""
    flat = fakecam.letterbox(image)
    width, height = flat.size
    cx, cy, focal = width / 2, height / 2, 800.0
    a = math.radians(yaw_deg)
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    projected = []
    for x, y in corners:
        dx, dy = x - cx, y - cy
        depth = focal + dx * math.sin(a)
        projected.append((cx + focal * dx * math.cos(a) / depth, cy + focal * dy / depth))
    # PIL wants the map from output pixels to input pixels: solve the homography projected -> corners
    rows, rhs = [], []
    for (u, v), (x, y) in zip(projected, corners, strict=True):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v])
        rhs.extend([x, y])
    coefficients = np.linalg.solve(np.array(rows), np.array(rhs))
    return flat.transform(flat.size, Image.Transform.PERSPECTIVE, tuple(coefficients), Image.Resampling.BICUBIC)


DECISION_RECORDER = """() => {
  delete document.documentElement.dataset.firstDecision;
  const result = document.querySelector('#result');
  new MutationObserver((_, observer) => {
    if (['grant', 'deny', 'error', 'wait'].includes(result.dataset.decision)) {
      document.documentElement.dataset.firstDecision = document.querySelector('#result-decision').innerText;
      observer.disconnect();
    }
  }).observe(result, { attributes: true, childList: true, subtree: true, characterData: true });
}"""
"""Records the title of the first decision the result box shows in ``<html data-first-decision>`` (the box goes
back to idle a few seconds later, so a loaded machine may look after that); tests wait for it with ``expect``."""


def kiosk_attempt(
    new_page: NewPage, browser: Any, api_url: str, settings: dict[str, Any], poses: dict[str, str], prefix: str
) -> dict[str, Any]:
    """Open the kiosk with the pose camera, press "Check my face", and return the verify request and answer."""
    from playwright.sync_api import expect

    recorder = new_page(browser, prefix, width=1024, height=720)
    page = recorder.page
    page.context.add_init_script(FAKE_CAMERA)
    store_kiosk_settings(page, settings)
    page.goto(f"{api_url}/kiosk")
    page.wait_for_selector("body[data-ready='true']")
    assert page.evaluate(LOAD_POSES, poses) == len(poses)
    expect(page.locator("#verify-btn")).to_be_enabled()
    page.evaluate(DECISION_RECORDER)
    challenge_answers: list[Any] = []
    page.on("response", lambda r: challenge_answers.append(r) if r.url.endswith("/challenge") else None)
    with page.expect_request(lambda r: r.url.endswith("/verify"), timeout=DECISION_TIMEOUT_MS) as sent:
        page.click("#verify-btn")
        expect(page.locator("#challenge")).to_be_visible()
        recorder.screenshot("prompt")
    request = sent.value
    answer = request.response()
    assert answer is not None
    expect(page.locator("html")).to_have_attribute("data-first-decision", re.compile(r"\S"))
    expect(page.locator("#challenge")).to_be_hidden()
    recorder.screenshot("result")
    headers = request.all_headers()
    body = request.post_data_buffer or b""
    return {
        "recorder": recorder,
        "status": answer.status,
        "answer": answer.json(),
        "challenge": challenge_answers[0].json() if challenge_answers else None,
        "headers": headers,
        "body": body,
        "n_frames": len(parse_multipart(body, headers.get("content-type", ""))),
        "shown": page.evaluate("window.__shown"),
        "title": page.locator("html").get_attribute("data-first-decision"),
    }


def resend(api_url: str, attempt: dict[str, Any], terminal: Any, *, fresh: bool) -> tuple[int, dict[str, Any]]:
    """The attempt's verify request again: as captured (``fresh`` False) or re-signed with a new timestamp and
    nonce but the same body and challenge id (``fresh`` True)."""
    path = f"/doors/{attempt['door_id']}/verify"
    headers = {k: v for k, v in attempt["headers"].items() if k.startswith("x-facegate-") or k == "content-type"}
    if fresh:
        signed = signature_headers(
            terminal.key_id,
            terminal.secret,
            "POST",
            path,
            attempt["body"],
            challenge=headers["x-facegate-challenge"],
            nonce=secrets.token_urlsafe(18),
            timestamp=int(time.time()),
        )
        headers = {"content-type": headers["content-type"], **signed}
    request = urllib.request.Request(f"{api_url}{path}", data=attempt["body"], headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_visitor_following_the_prompts_is_granted_a_moved_photo_and_a_replay_are_refused(
    live_stack: dict[str, Any], pose_cast: PoseCast, stage: Stage
) -> None:
    # Given a site with a door and a kiosk terminal, and the visitor enrolled with three other photos
    api_url = live_stack["api_url"]
    made = kiosk_door(live_stack, "Liveness site", list(pose_cast.enroll), "V")
    settings = made.kiosk_settings(liveness=True, sideways=True)
    frontal = pose_cast.poses["straight"]
    browser = stage.camera([frontal], "idle", frames_per_image=5)

    # When the visitor follows the kiosk's prompts (the camera shows them frontal, turned left, turned right)
    live = {}
    for step, path in pose_cast.poses.items():
        with Image.open(path) as photo:
            live[step] = pose_jpeg_b64(photo)
    with Image.open(frontal) as s:
        moved = {"straight": pose_jpeg_b64(s)}
        moved["left"] = pose_jpeg_b64(plane_turned(s, PLANE_TURN_DEG))
        moved["right"] = pose_jpeg_b64(plane_turned(s, -PLANE_TURN_DEG))
    granted = stage.open(kiosk_attempt, browser, api_url, settings, live, "liveness-live")

    # Then the kiosk asked for a sideways challenge, showed its steps in order, sent two frames per step with the
    # signed challenge id, and the visitor is granted
    challenge = granted["challenge"]
    assert challenge is not None and challenge["steps"][0] == "straight"
    assert sorted(challenge["steps"][1:]) == ["left", "right"]
    assert [step for step in granted["shown"] if step != "straight"] == challenge["steps"][1:]
    assert granted["headers"]["x-facegate-challenge"] == challenge["challenge_id"]
    assert granted["n_frames"] == 6
    assert granted["status"] == 200, granted["answer"]
    assert granted["answer"]["decision"] == "grant", f"{granted['answer']} ({pose_cast})"
    assert granted["title"] == "GRANTED"
    # When the granted request is sent again as captured, Then the signature layer refuses it: its nonce was
    # used (or, on a machine so loaded that a minute has passed since it was signed, its timestamp is stale)
    granted["door_id"] = made.door.door_id
    status, answer = resend(api_url, granted, made.terminal, fresh=False)
    assert status == 401 and answer["error"]["code"] in {"nonce_reused", "clock_skew"}, answer

    # When the same visitor's frontal photo is moved in front of the camera as a flat plane, turned as asked
    refused = stage.open(kiosk_attempt, browser, api_url, settings, moved, "liveness-photo")

    # Then it is refused and the kiosk only says to try again
    assert refused["status"] == 200, refused["answer"]
    assert refused["answer"]["decision"] == "deny" and refused["answer"]["next"] == "retry", refused["answer"]
    assert refused["answer"]["unlock_token"] is None
    assert refused["title"] == "DENIED"

    # When it is re-signed with a fresh nonce but keeps its old challenge id, Then it is refused as well
    status, answer = resend(api_url, granted, made.terminal, fresh=True)
    assert status == 200 and answer["decision"] == "deny" and answer["next"] == "retry", answer

    # And the audit log (admins only) says why: the challenge passed, then failed, then was no longer valid (the
    # two denies can share a timestamp, so they are told apart by their reason, not by their order)
    records = sorted(
        (r for r in made.admin.audit(made.site.site_id, start=made.started) if r.decision in {"grant", "deny"}),
        key=lambda r: (r.at or made.started, r.decision != "grant"),
    )
    assert [(r.decision, r.reason) for r in records] == [
        ("grant", "match"),
        ("deny", "liveness_failed"),
        ("deny", "liveness_failed"),
    ], [r.to_dict() for r in records]
    details = [r.raw.get("details") or {} for r in records]
    assert [d.get("liveness") for d in details] == ["passed", "failed", "failed"], details  # type: ignore[union-attr]
    denied = {str(d.get("liveness_reason")): r for d, r in zip(details[1:], records[1:], strict=True)}  # type: ignore[union-attr]
    assert "challenge_invalid" in denied, details
    (photo_reason,) = set(denied) - {"challenge_invalid"}
    assert photo_reason in {"planar", "no_movement", "wrong_direction"}, details
    assert denied[photo_reason].similarity is None, "a failed liveness check is decided before any matching"

    # And the pages loaded everything, threw nothing, kept their CSP
    for attempt in (granted, refused):
        recorder = attempt["recorder"]
        assert recorder.network == [], recorder.network
        assert recorder.errors == [], recorder.errors
        assert stage.run(recorder.csp_violations) == []
    made.visitor.erase()
