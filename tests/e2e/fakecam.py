"""Fake camera videos for headless Chromium (``--use-file-for-fake-video-capture=<file.y4m>``).

Builds a YUV4MPEG2 (Y4M, 4:2:0 planar, BT.601 limited range) video from still images: each image is
letterboxed (aspect kept, black bars) to the frame size and held for a number of frames. Chromium loops
the file, so the "camera" shows the images in turn forever. Pure numpy and Pillow.

Command line (for the end-to-end flow): ``python tests/e2e/fakecam.py out.y4m a.jpg b.jpg --frames 30``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

FRAME_WIDTH = 640
FRAME_HEIGHT = 480


def letterbox(image: Image.Image, width: int = FRAME_WIDTH, height: int = FRAME_HEIGHT) -> Image.Image:
    """Scale ``image`` (EXIF-upright) to fit ``width`` x ``height`` pixels, centred on black; returns RGB."""
    upright = ImageOps.exif_transpose(image).convert("RGB")
    scale = min(width / upright.width, height / upright.height)
    size = (max(1, round(upright.width * scale)), max(1, round(upright.height * scale)))
    resized = upright.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height))
    canvas.paste(resized, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def rgb_to_i420(image: Image.Image) -> bytes:
    """One I420 frame (Y plane, then U and V at half resolution) of an RGB image with even sides.

    BT.601 limited range: Y in [16, 235], U and V in [16, 240]; chroma is the mean of each 2x2 block.
    """
    if image.width % 2 or image.height % 2:
        raise ValueError(f"frame sides must be even, got {image.width}x{image.height}")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    y = 16.0 + 219.0 * luma
    u = 128.0 + 224.0 * (b - luma) / 1.772
    v = 128.0 + 224.0 * (r - luma) / 1.402

    def half(plane: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        h, w = plane.shape
        blocks: npt.NDArray[np.float32] = plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        return blocks

    planes = (y, half(u), half(v))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(
    images: Sequence[Path | Image.Image],
    out: Path,
    *,
    frames_per_image: int = 30,
    fps: int = 30,
    width: int = FRAME_WIDTH,
    height: int = FRAME_HEIGHT,
) -> Path:
    """Write a Y4M video showing each image for ``frames_per_image`` frames at ``fps`` frames/s.

    Args:
        images: image files or Pillow images, shown in order (the video loops in Chromium).
        out: the .y4m file to write (parent folders are created).
        frames_per_image: frames per image, >= 1.
        fps: declared frame rate, frames per second.
        width, height: frame size in pixels (even numbers).

    Returns:
        ``out``.
    """
    if not images:
        raise ValueError("need at least one image")
    if frames_per_image < 1 or fps < 1:
        raise ValueError("frames_per_image and fps must be >= 1")
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    with out.open("wb") as video:
        video.write(header)
        for item in images:
            if isinstance(item, Image.Image):
                frame = rgb_to_i420(letterbox(item, width, height))
            else:
                with Image.open(item) as opened:
                    frame = rgb_to_i420(letterbox(opened, width, height))
            for _ in range(frames_per_image):
                video.write(b"FRAME\n")
                video.write(frame)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a Y4M fake-camera video from still images.")
    parser.add_argument("out", type=Path)
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--frames", type=int, default=30, help="frames per image")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    write_y4m(args.images, args.out, frames_per_image=args.frames, fps=args.fps)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
