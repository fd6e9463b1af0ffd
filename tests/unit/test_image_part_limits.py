"""Image part limits of the two image routes follow what the engine fuses: selfies 1-5, door frames 1-3."""

from __future__ import annotations

import pytest

from facegate.api import body
from facegate.errors import InvalidRequest
from facegate.vision.engine import MAX_ENROLL_IMAGES, MAX_PROBE_FRAMES

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


def multipart(count: int, name: str) -> tuple[bytes, str]:
    boundary = "limitboundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{i}.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + JPEG
        + b"\r\n"
        for i in range(count)
    )
    return parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_route_limits_are_the_engine_limits() -> None:
    # Given the API's part limits and the engine's fusion limits / Then they agree
    assert body.MAX_SELFIE_PARTS == MAX_ENROLL_IMAGES == 5
    assert body.MAX_FRAME_PARTS == MAX_PROBE_FRAMES == 3


@pytest.mark.parametrize(("limit", "accepted"), [(body.MAX_SELFIE_PARTS, 5), (body.MAX_FRAME_PARTS, 3)])
def test_up_to_the_limit_is_split_and_one_more_is_refused(limit: int, accepted: int) -> None:
    # Given bodies with as many parts as the limit, and one more
    at_limit, content_type = multipart(accepted, "image")
    over, _ = multipart(accepted + 1, "image")
    # When split / Then every part comes back at the limit, and one more is refused with invalid_parts
    assert len(body.image_parts(content_type, at_limit, "image", max_parts=limit)) == accepted
    with pytest.raises(InvalidRequest) as refused:
        body.image_parts(content_type, over, "image", max_parts=limit)
    assert refused.value.code == "invalid_parts"
