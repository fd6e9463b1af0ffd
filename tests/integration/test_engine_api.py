"""The face engine's public contract on real LFW faces: enrollment bursts, probes, similarity and
model loading."""

from __future__ import annotations

import dataclasses
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from security_support import model_dir

from facegate.errors import FaceRejected, InvalidRequest, ModelMismatch, ModelUnavailable
from facegate.settings import Settings
from facegate.vision import FaceEngine
from facegate.vision.manifest import EMBEDDER_FILE
from facegate.vision.types import Template
from facegate_tools.evaluation.runner import default_threshold

REPO = Path(__file__).resolve().parents[2]
PERSON_A = "Emma_Watson"
"""Five frontal LFW images, all passing the enrollment gates."""
PERSON_B = "Tom_Cruise"
SAME_PHOTO = 0.9
"""Cosine above which two descriptors come from the same photo (cropped, resized, re-encoded): measured
0.965-0.969 with SFace, while on the LFW dev pairs different photos of one person score median 0.69 and
different people at most 0.37."""


@pytest.fixture(scope="module")
def photos(lfw_dev_dir: Path) -> Callable[[str, int], bytes]:
    """The bytes of LFW dev image ``number`` of ``person``."""

    def read(person: str, number: int) -> bytes:
        return (lfw_dev_dir / person / f"{person}_{number:04d}.jpg").read_bytes()

    return read


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def central_crop(data: bytes) -> Image.Image:
    """The central face region of a 250x250 LFW image (other people at the edges are cut off)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").crop((55, 45, 195, 205))


def noise_jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    return jpeg(Image.fromarray(pixels))


# ------------------------------------------------------------------------------------------ enrollment


def test_enroll_accepts_one_image_as_bytes_or_a_list(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given one selfie / When enrolled as bare bytes and as a one-element list
    bare = engine.enroll_template(photos(PERSON_A, 1))
    listed = engine.enroll_template([photos(PERSON_A, 1)])
    # Then both give the same unit template of the engine's model, made of one image
    assert bare.n_images == listed.n_images == 1
    assert bare.model_id == engine.model_id
    assert bare.vector.shape == (128,) and bare.vector.dtype == np.float32
    assert abs(float(np.linalg.norm(bare.vector)) - 1.0) < 1e-5
    assert engine.similarity(bare, listed) == pytest.approx(1.0, abs=1e-6)
    assert len(bare.quality) == 1 and bare.quality[0].ok


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_enroll_fuses_two_to_five_images(engine: FaceEngine, photos: Callable[[str, int], bytes], count: int) -> None:
    # Given a burst of `count` photos of one person
    burst = [photos(PERSON_A, number) for number in range(1, count + 1)]
    # When enrolled
    template = engine.enroll_template(burst)
    # Then one unit template records how many images it fuses, with one quality report each
    assert template.n_images == count
    assert len(template.quality) == count
    assert abs(float(np.linalg.norm(template.vector)) - 1.0) < 1e-5


@pytest.mark.parametrize("count", [0, 6])
def test_enroll_refuses_no_images_or_more_than_five(
    engine: FaceEngine, photos: Callable[[str, int], bytes], count: int
) -> None:
    # Given an empty burst or a burst of six photos
    burst = [photos(PERSON_A, 1 + number % 5) for number in range(count)]
    # When enrolled / Then a typed error with a stable code, before any image is processed
    with pytest.raises(InvalidRequest) as refused:
        engine.enroll_template(burst)
    assert refused.value.code == "invalid_parts"


def test_one_bad_photo_in_a_burst_refuses_the_burst_and_says_which(
    engine: FaceEngine, photos: Callable[[str, int], bytes]
) -> None:
    # Given a burst of three whose second image holds no face
    burst = [photos(PERSON_A, 1), noise_jpeg(1), photos(PERSON_A, 3)]
    # When enrolled / Then no_face, naming the photo
    with pytest.raises(FaceRejected) as refused:
        engine.enroll_template(burst)
    assert refused.value.code == "no_face"
    assert "photo 2 of 3" in refused.value.message


def test_burst_mixing_two_people_is_inconsistent_faces(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given a burst of two photos of one person and one photo of another
    burst = [photos(PERSON_A, 1), photos(PERSON_A, 3), photos(PERSON_B, 1)]
    # When enrolled / Then refused: the photos do not show one person
    with pytest.raises(FaceRejected) as refused:
        engine.enroll_template(burst)
    assert refused.value.code == "inconsistent_faces"


def usable_photos(engine: FaceEngine, folder: Path) -> list[bytes]:
    """The person's photos that pass the enrollment gates on their own, in file order."""
    usable = []
    for path in sorted(folder.glob("*.jpg")):
        try:
            engine.enroll_template(path.read_bytes())
        except FaceRejected:
            continue
        usable.append(path.read_bytes())
    return usable


def test_fusing_three_selfies_beats_one(engine: FaceEngine, lfw_dev_dir: Path) -> None:
    # Given every LFW dev person with at least four usable photos: a one-photo template (the
    # first), a three-photo template (the first three) and the other photos as door probes
    singles: dict[str, Template] = {}
    fused: dict[str, Template] = {}
    probes: dict[str, list[Template]] = {}
    for folder in sorted(p for p in lfw_dev_dir.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 4):
        usable = usable_photos(engine, folder)
        if len(usable) < 4:
            continue
        try:
            fused[folder.name] = engine.enroll_template(usable[:3])
        except FaceRejected:  # photos years apart can fail the burst consistency check
            continue
        singles[folder.name] = engine.enroll_template(usable[0])
        probes[folder.name] = [engine.probe_template(data) for data in usable[3:]]
    assert len(singles) >= 10, "too few LFW dev people with four usable photos"

    # When every probe is compared with its own and every other person's templates
    def scores(templates: dict[str, Template]) -> tuple[np.ndarray, np.ndarray]:
        genuine, margin = [], []
        for owner, owner_probes in probes.items():
            for probe in owner_probes:
                own = engine.similarity(templates[owner], probe)
                best_other = max(engine.similarity(t, probe) for name, t in templates.items() if name != owner)
                genuine.append(own)
                margin.append(own - best_other)
        return np.array(genuine), np.array(margin)

    genuine_1, margin_1 = scores(singles)
    genuine_3, margin_3 = scores(fused)
    claim = default_threshold("claim")
    print(
        f"{len(singles)} people, {genuine_1.size} probes: mean genuine similarity K=1 {genuine_1.mean():.4f}, "
        f"K=3 {genuine_3.mean():.4f}; TAR at claim threshold {np.mean(genuine_1 >= claim):.3f} -> "
        f"{np.mean(genuine_3 >= claim):.3f}; mean margin over the best other person {margin_1.mean():.4f} -> "
        f"{margin_3.mean():.4f}"
    )
    # Then fusing three photos raises the genuine similarity on average, accepts at least as many
    # genuine probes at the claim threshold, and separates each person from the others better
    assert genuine_3.mean() > genuine_1.mean()
    assert np.mean(genuine_3 >= claim) >= np.mean(genuine_1 >= claim)
    assert margin_3.mean() > margin_1.mean()


# ---------------------------------------------------------------------------------------------- probes


@pytest.mark.parametrize("large", [PERSON_A, PERSON_B])
def test_probe_uses_the_dominant_face(engine: FaceEngine, photos: Callable[[str, int], bytes], large: str) -> None:
    # Given a door frame with one person large in front and the other small behind
    small = PERSON_B if large == PERSON_A else PERSON_A
    number = {PERSON_A: 1, PERSON_B: 2}
    templates = {person: engine.enroll_template(photos(person, number[person])) for person in (PERSON_A, PERSON_B)}
    frame = Image.new("RGB", (640, 400), (120, 120, 120))
    frame.paste(central_crop(photos(large, number[large])).resize((280, 320)), (20, 40))
    frame.paste(central_crop(photos(small, number[small])).resize((105, 120)), (460, 140))
    data = jpeg(frame)
    assert len(engine.detect(data)) == 2
    # When probed
    probe = engine.probe_template(data)
    # Then the probe is the large face: it matches that person, not the one behind
    assert probe.n_images == 1
    assert engine.similarity(probe, templates[large]) >= SAME_PHOTO
    assert engine.similarity(probe, templates[large]) > engine.similarity(probe, templates[small]) + 0.05


def test_describe_picks_the_largest_or_the_central_face(
    engine: FaceEngine, photos: Callable[[str, int], bytes]
) -> None:
    # Given a frame with A large in the left corner and B smaller in the centre
    a = engine.enroll_template(photos(PERSON_A, 1)).vector
    b = engine.enroll_template(photos(PERSON_B, 2)).vector
    frame = Image.new("RGB", (640, 400), (120, 120, 120))
    frame.paste(central_crop(photos(PERSON_A, 1)).resize((245, 280)), (0, 0))
    frame.paste(central_crop(photos(PERSON_B, 2)).resize((122, 140)), (259, 130))
    data = jpeg(frame)
    # When described by each rule
    largest = engine.describe(data, pick="largest")
    central = engine.describe(data, pick="center")
    # Then "largest" describes A and "center" describes B, each a unit vector; no face gives None
    assert largest is not None and central is not None
    assert float(largest @ a) > SAME_PHOTO > float(largest @ b)
    assert float(central @ b) > SAME_PHOTO > float(central @ a)
    assert abs(float(np.linalg.norm(central)) - 1.0) < 1e-5
    assert engine.describe(noise_jpeg(5)) is None


def test_probe_skips_frames_without_a_face(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given a burst of three door frames of which only the middle one shows a face
    face = photos(PERSON_A, 2)
    alone = engine.probe_template(face)
    # When probed
    probe = engine.probe_template([noise_jpeg(1), face, noise_jpeg(2)])
    # Then the empty frames are skipped: the probe is that one face
    assert probe.n_images == 1
    assert engine.similarity(probe, alone) == pytest.approx(1.0, abs=1e-5)


def test_probe_fuses_the_frames_that_show_a_face(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given two frames of one person and an empty frame
    frames = [photos(PERSON_A, 2), noise_jpeg(3), photos(PERSON_A, 4)]
    # When probed / Then the two faces are fused into one probe
    probe = engine.probe_template(frames)
    assert probe.n_images == 2
    assert len(probe.quality) == 2


def test_probe_without_any_face_is_refused(engine: FaceEngine) -> None:
    # Given three frames of noise / When probed / Then no_face
    with pytest.raises(FaceRejected) as refused:
        engine.probe_template([noise_jpeg(1), noise_jpeg(2), noise_jpeg(3)])
    assert refused.value.code == "no_face"


def test_probe_refuses_more_than_three_frames(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given four frames / When probed / Then a typed error with a stable code
    with pytest.raises(InvalidRequest) as refused:
        engine.probe_template([photos(PERSON_A, 1)] * 4)
    assert refused.value.code == "invalid_parts"


# ------------------------------------------------------------------------------------------ similarity


def test_similarity_is_a_symmetric_cosine_in_range(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given templates of two people
    templates = [engine.enroll_template(photos(PERSON_A, n)) for n in (1, 2)] + [
        engine.enroll_template(photos(PERSON_B, n)) for n in (1, 2)
    ]
    for a in templates:
        for b in templates:
            # When compared / Then the score is in [-1, 1], symmetric and the cosine of the vectors
            score = engine.similarity(a, b)
            assert -1.0 <= score <= 1.0
            assert score == pytest.approx(engine.similarity(b, a), abs=1e-6)
            assert score == pytest.approx(float(a.vector @ b.vector), abs=1e-5)
    # And the same person scores higher than different people
    assert engine.similarity(templates[0], templates[1]) > engine.similarity(templates[0], templates[2])


def test_similarity_limits(engine: FaceEngine) -> None:
    # Given unit vectors that are equal, opposite and orthogonal (same model id)
    e1 = np.zeros(128, dtype=np.float32)
    e2 = np.zeros(128, dtype=np.float32)
    e1[0], e2[1] = 1.0, 1.0

    def made(vector: np.ndarray) -> Template:
        return Template(vector=vector.astype(np.float32), model_id=engine.model_id)

    # When compared / Then 1, -1 and 0 (never outside [-1, 1], even with rounding)
    assert engine.similarity(made(e1), made(e1 * 1.0000001)) == 1.0
    assert engine.similarity(made(e1), made(-e1)) == -1.0
    assert engine.similarity(made(e1), made(e2)) == 0.0


def test_similarity_across_models_is_model_mismatch(engine: FaceEngine, photos: Callable[[str, int], bytes]) -> None:
    # Given a photo's template, and the very same vector recorded under another model id (a template
    # stored by the first engine, dlib's ResNet)
    template = engine.enroll_template(photos(PERSON_A, 1))
    other = dataclasses.replace(template, model_id="dlib-r1-fp32-0f54601fa985")
    assert other.model_id != engine.model_id
    # When compared across models / Then ModelMismatch, both ways, even though the vectors are equal
    for a, b in ((template, other), (other, template)):
        with pytest.raises(ModelMismatch) as mismatch:
            engine.similarity(a, b)
        assert mismatch.value.code == "model_mismatch"


# ---------------------------------------------------------------------------------------------- loading


@pytest.fixture
def model_copy(models: Path, tmp_path: Path) -> Path:
    """A private copy of the model directory that a test may tamper with."""
    return Path(shutil.copytree(models, tmp_path / "models"))


def test_load_honours_facegate_model_dir(
    models: Path, model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given FACEGATE_MODEL_DIR naming a copy of the models, and a working directory without models
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(model_copy))
    monkeypatch.chdir(tmp_path)
    # When the engine is loaded without a directory
    loaded = FaceEngine.load(Settings.from_env().model_dir)
    # Then it uses the copy (same model id as the originals) and works
    assert loaded.model_id == FaceEngine.load(models).model_id
    assert loaded.detect(noise_jpeg(4)) == []


def test_load_fails_when_facegate_model_dir_has_no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given FACEGATE_MODEL_DIR naming an empty folder, while the repository's own models exist
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(empty))
    monkeypatch.chdir(REPO)
    # When loaded / Then ModelUnavailable: the variable is honoured, never silently bypassed
    with pytest.raises(ModelUnavailable) as unavailable:
        FaceEngine.load(Settings.from_env().model_dir)
    assert unavailable.value.code == "model_unavailable"


def manifest_files(models: Path) -> list[str]:
    import json

    return sorted(json.loads((models / "manifest.json").read_text())["files"])


@pytest.mark.parametrize(
    "name",
    manifest_files(model_dir()) if (model_dir() / "manifest.json").is_file() else [EMBEDDER_FILE],
)
def test_load_refuses_a_tampered_model_file(model_copy: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Given a copy of the models with one byte of one file flipped
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    # When loaded by path, and through FACEGATE_MODEL_DIR
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(model_copy))
    # Then ModelUnavailable both ways: no session is opened on a file that fails its sha256
    with pytest.raises(ModelUnavailable):
        FaceEngine.load(model_copy)
    with pytest.raises(ModelUnavailable):
        FaceEngine.load(Settings.from_env().model_dir)


@pytest.mark.parametrize("damage", ["missing embedder", "manifest not JSON", "no manifest"])
def test_load_refuses_an_incomplete_model_dir(model_copy: Path, damage: str) -> None:
    # Given a copy of the models with a file removed or the manifest damaged
    if damage == "missing embedder":
        (model_copy / EMBEDDER_FILE).unlink()
    elif damage == "manifest not JSON":
        (model_copy / "manifest.json").write_text("{not json")
    else:
        (model_copy / "manifest.json").unlink()
    # When loaded / Then ModelUnavailable
    with pytest.raises(ModelUnavailable):
        FaceEngine.load(model_copy)
