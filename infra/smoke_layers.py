"""Check the output of ``sam build``: sizes against Lambda's limit, and that every handler imports.

Usage: ``python infra/smoke_layers.py .aws-sam/build --runtime-site <site-packages with boto3>``

The layer that ships the pages must also ship the kiosk's vendored QR decoder (``web/static/jsqr.js``).
For each function of the built template it prints the unzipped size of its code plus its layers
(Lambda's limit: 250 MB = 262,144,000 bytes, all layers and code together) and imports the
function's ``app`` module in a fresh interpreter started with ``-S`` (no site-packages), whose
``sys.path`` is what Lambda gives it: the code folder, each layer's ``python`` folder, and the
packages the python3.12 runtime itself provides (boto3 and its dependencies, linked from
``--runtime-site``). Face functions also load the ONNX face engine from the models layer when the
face engine is available. Exits 1 on any failure. A build tool, not product code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from facegate_tools.local.aws import load_template

LAMBDA_UNZIPPED_LIMIT = 262_144_000
BASELINE = Path(__file__).with_name("layer-baseline.json")
"""Sizes and import counts measured before issue 13, printed next to today's for comparison."""
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
"""What the python3.12 Lambda runtime provides on its own sys.path."""

PROBE = """
import importlib, json, os, sys
sys.path[:0] = json.loads(os.environ["SMOKE_PATH"])
module = importlib.import_module("app")
assert callable(module.lambda_handler)
result = {
    "modules": len(sys.modules),
    "facegate_modules": sum(1 for name in sys.modules if name == "facegate" or name.startswith("facegate.")),
    "packages": len({name.split(".")[0] for name in sys.modules}),
    "ml": None,
    "engine": None,
}
if os.environ.get("SMOKE_ML") == "1":
    import numpy, onnxruntime, pillow_heif
    from PIL import Image
    pillow_heif.register_heif_opener()
    result["ml"] = f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}, Pillow {Image.__version__}"
if os.environ.get("SMOKE_ENGINE") == "1":
    from facegate.runtime import engine_loader
    from facegate.settings import Settings
    engine = engine_loader(Settings.from_env())()
    result["engine"] = engine.model_id
print(json.dumps(result))
"""


def tree_size(path: Path) -> int:
    """Bytes of every regular file under ``path``."""
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def runtime_dir(site: Path, into: Path) -> Path:
    """A folder that holds only the runtime-provided packages (symlinks into ``site``)."""
    for name in RUNTIME_PACKAGES:
        source = site / name
        if not source.exists():
            raise SystemExit(f"runtime package {name} not found in {site}")
        (into / name).symlink_to(source)
    return into


def check(build: Path, site: Path) -> int:
    template = load_template(build / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    layer_dirs = {
        logical_id: build / str(resource["Properties"]["ContentUri"])
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::LayerVersion"
    }
    global_layers = [
        layer for layer in (template.get("Globals", {}).get("Function", {}).get("Layers") or []) if layer is not None
    ]
    sizes = {name: tree_size(path) for name, path in layer_dirs.items()}
    for name, size in sizes.items():
        print(f"layer {name:<16} {size / 1e6:8.1f} MB")
    failures = 0
    for name, path in layer_dirs.items():
        static = path / "python" / "facegate" / "web" / "static"
        if static.is_dir() and not (static / "jsqr.js").is_file():
            print(f"layer {name}: the kiosk's QR decoder {static / 'jsqr.js'} is missing (npm ci first)")
            failures += 1
        if static.is_dir() and not (static / "qrcodegen.js").is_file():
            print(f"layer {name}: the console's QR encoder {static / 'qrcodegen.js'} is missing (npm ci first)")
            failures += 1
    baseline = json.loads(BASELINE.read_text())["functions"] if BASELINE.is_file() else {}
    with tempfile.TemporaryDirectory() as scratch:
        runtime = runtime_dir(site.resolve(), Path(scratch))
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource["Properties"]
            code = build / str(props["CodeUri"])
            layers = [_layer_id(ref) for ref in global_layers + list(props.get("Layers") or [])]
            layers = [layer for layer in layers if layer in layer_dirs]
            total = tree_size(code) + sum(sizes[layer] for layer in layers)
            over = total > LAMBDA_UNZIPPED_LIMIT
            path = [str(code)] + [str(layer_dirs[layer] / "python") for layer in layers] + [str(runtime)]
            models = [layer_dirs[layer] / "models" for layer in layers if (layer_dirs[layer] / "models").is_dir()]
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "SMOKE_PATH": json.dumps(path),
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_METRICS_NAMESPACE": "facegate",
            }
            if any(layer_dirs[layer].name.startswith("MlRuntime") for layer in layers):
                env["SMOKE_ML"] = "1"
            if models and (models[0] / "manifest.json").is_file() and _engine_available():
                env.update(SMOKE_ENGINE="1", FACEGATE_MODEL_DIR=str(models[0]))
            run = subprocess.run(  # noqa: S603 - fixed interpreter and script
                [sys.executable, "-S", "-c", PROBE], env=env, capture_output=True, text=True, check=False
            )
            status = "ok" if run.returncode == 0 and not over else "FAILED"
            detail = run.stdout.strip() if run.returncode == 0 else run.stderr.strip().splitlines()[-1:]
            print(f"{logical_id:<24} {total / 1e6:7.1f} MB unzipped (limit 262.1)  import {status}  {detail}")
            before = baseline.get(logical_id)
            if before and run.returncode == 0:
                now = json.loads(run.stdout)
                print(
                    f"{'':<24} before issue 13: {before['unzipped_mb']:.1f} MB, {before['modules']} modules "
                    f"({before['facegate_modules']} facegate) -> now {total / 1e6:.1f} MB, {now['modules']} modules "
                    f"({now['facegate_modules']} facegate)"
                )
            if status != "ok":
                failures += 1
                if run.returncode != 0:
                    print("\n".join(run.stderr.splitlines()[-12:]), file=sys.stderr)
    return 1 if failures else 0


def _engine_available() -> bool:
    """True once the face engine exists in the core (it is loaded from the models layer then)."""
    try:
        from facegate.vision import FaceEngine  # noqa: F401
    except ImportError:
        print("note: facegate.vision.FaceEngine is not available; the face engine load is skipped")
        return False
    return True


def _layer_id(ref: Any) -> str:
    if isinstance(ref, dict) and "Ref" in ref:
        return str(ref["Ref"])
    return str(ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="sam build output folder (with template.yaml)")
    parser.add_argument("--runtime-site", type=Path, required=True, help="site-packages that hold boto3")
    args = parser.parse_args()
    return check(args.build, args.runtime_site)


if __name__ == "__main__":
    sys.exit(main())
