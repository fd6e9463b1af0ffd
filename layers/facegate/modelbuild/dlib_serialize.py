"""Reader for dlib's binary serialisation format (dlib/serialize.h), used at model-build time.

Encodings (see ../shared/notes/dlib-models.md, section 1):

* integers of every width: a control byte (low 4 bits = number of magnitude bytes N, bit 0x80 =
  negative) followed by N little-endian magnitude bytes;
* scalar floats: a signed mantissa integer then a signed exponent integer, value = m * 2**e
  (exponents 32000/32001/32002 encode +inf/-inf/NaN);
* bool: one ASCII byte ``'1'`` or ``'0'``; string: integer length then raw bytes;
* tensors: version integer (2), four integers (n, k, nr, nc), then raw float32 little-endian data;
* alias tensors: version integer (1) and four integers, no data;
* matrices: -nr, -nc (negative marks the new format), then nr*nc scalar floats, row-major.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable

_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


class DlibReader:
    """Sequential reader over the bytes of a dlib ``.dat`` file.

    Every ``read_*`` method consumes bytes and raises :class:`ModelUnavailable` on malformed
    or truncated input, so a corrupt model file fails the build with a clear message.
    """

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        """Number of unread bytes."""
        return len(self._data) - self.pos

    def _fail(self, what: str) -> ModelUnavailable:
        return ModelUnavailable(f"malformed dlib model file: {what} at byte {self.pos}")

    def peek_int(self) -> int:
        """Return the next integer without consuming it."""
        saved = self.pos
        try:
            return self.read_int()
        finally:
            self.pos = saved

    def read_int(self) -> int:
        """Read one variable-length signed or unsigned integer."""
        data, pos = self._data, self.pos
        if pos >= len(data):
            raise self._fail("unexpected end of file")
        control = data[pos]
        if control & 0x70:
            raise self._fail(f"unsupported integer control byte 0x{control:02x}")
        size = control & 0x0F
        if not 1 <= size <= 8 or pos + 1 + size > len(data):
            raise self._fail("bad integer length")
        value = int.from_bytes(data[pos + 1 : pos + 1 + size], "little")
        self.pos = pos + 1 + size
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        """Read one scalar float (mantissa * 2**exponent)."""
        mantissa = self.read_int()
        exponent = self.read_int()
        special = _SPECIAL_EXPONENTS.get(exponent)
        if special is not None:
            return special
        return math.ldexp(mantissa, exponent)

    def read_floats(self, count: int) -> npt.NDArray[np.float64]:
        """Read ``count`` scalar floats into a float64 array."""
        out = np.empty(count, dtype=np.float64)
        for i in range(count):
            out[i] = self.read_float()
        return out

    def read_bool(self) -> bool:
        """Read one ASCII ``'1'``/``'0'`` boolean."""
        if self.pos >= len(self._data):
            raise self._fail("unexpected end of file")
        byte = self._data[self.pos]
        if byte not in (ord("0"), ord("1")):
            raise self._fail(f"bad bool byte 0x{byte:02x}")
        self.pos += 1
        return byte == ord("1")

    def read_string(self) -> str:
        """Read a length-prefixed string (ASCII)."""
        length = self.read_int()
        if length < 0 or self.pos + length > len(self._data):
            raise self._fail("bad string length")
        raw = bytes(self._data[self.pos : self.pos + length])
        self.pos += length
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self._fail("non-ASCII string") from exc

    def expect_string(self, *allowed: str) -> str:
        """Read a string and check it is one of ``allowed``."""
        value = self.read_string()
        if value not in allowed:
            raise self._fail(f"expected {' or '.join(allowed)}, found {value!r}")
        return value

    def read_tensor(self) -> npt.NDArray[np.float32]:
        """Read a ``resizable_tensor``: returns a float32 array of shape (n, k, nr, nc)."""
        version = self.read_int()
        if version != 2:
            raise self._fail(f"unsupported tensor version {version}")
        shape = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(shape))
        nbytes = 4 * count
        if self.pos + nbytes > len(self._data):
            raise self._fail("truncated tensor data")
        values = np.frombuffer(self._data[self.pos : self.pos + nbytes], dtype="<f4").astype(np.float32)
        self.pos += nbytes
        return values.reshape(shape)

    def read_alias(self) -> tuple[int, int, int, int]:
        """Read an ``alias_tensor`` shape descriptor (n, k, nr, nc)."""
        version = self.read_int()
        if version != 1:
            raise self._fail(f"unsupported alias_tensor version {version}")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return n, k, nr, nc

    def read_matrix(self) -> npt.NDArray[np.float64]:
        """Read a dlib matrix of scalar floats; returns shape (nr, nc)."""
        nr = abs(self.read_int())
        nc = abs(self.read_int())
        return self.read_floats(nr * nc).reshape(nr, nc)

    def expect_end(self) -> None:
        """Check that the whole file was consumed."""
        if self.remaining:
            raise self._fail(f"{self.remaining} trailing bytes")
