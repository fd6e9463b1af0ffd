"""Convert dlib's ``shape_predictor_5_face_landmarks.dat`` to a plain ``.npz`` of numpy arrays.

The file layout is in ../shared/notes/dlib-models.md, section 6. Apart from the version and the
initial shape (read with :class:`DlibReader`), the file is a long stream of variable-length
integers (a float is a mantissa integer followed by an exponent integer). The stream is split
into tokens with one tight loop, then decoded and reshaped with numpy; every structural field
(vector lengths, matrix sizes) is checked, so a file that is not a cascade of complete trees
of one shape fails with :class:`ModelUnavailable`.

Arrays written (``C`` cascade levels, ``T`` trees per level, ``S`` splits and ``L = S + 1``
leaves per tree, ``P`` landmarks, ``F`` feature pixels per level):

- ``initial_shape``: float32 (P, 2), mean shape in box-normalised coordinates;
- ``split_idx``: int32 (C, T, S, 2), the two feature pixels compared at each split;
- ``split_thresh``: float32 (C, T, S);
- ``leaf_values``: float32 (C, T, L, P, 2), shape increments;
- ``anchor_idx``: int32 (C, F), landmark each feature pixel is attached to;
- ``deltas``: float32 (C, F, 2), feature pixel offsets from their anchor (mean-shape units).

The output bytes are deterministic (fixed zip timestamps, no compression).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.modelbuild.dlib_serialize import DlibReader

ARRAY_NAMES = ("initial_shape", "split_idx", "split_thresh", "leaf_values", "anchor_idx", "deltas")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FLOAT_SPECIALS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}

I64 = npt.NDArray[np.int64]


def _token_starts(data: bytes, start: int) -> I64:
    """Byte offsets of every integer token from ``start`` to the end of ``data``."""
    starts: list[int] = []
    append = starts.append
    pos, end = start, len(data)
    while pos < end:
        append(pos)
        pos += 1 + (data[pos] & 0x0F)
    if pos != end:
        raise ModelUnavailable("malformed dlib model file: truncated integer at end of file")
    return np.asarray(starts, dtype=np.int64)


def _decode_tokens(data: bytes, starts: I64) -> I64:
    """Values of the integer tokens at ``starts`` (control byte: low nibble = size, 0x80 = negative)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    control = raw[starts]
    sizes = (control & 0x0F).astype(np.int64)
    if np.any(control & 0x70) or np.any(sizes < 1) or np.any(sizes > 8):
        raise ModelUnavailable("malformed dlib model file: bad integer control byte")
    padded = np.concatenate([raw, np.zeros(8, dtype=np.uint8)])
    window = padded[starts[:, None] + 1 + np.arange(8)]
    window[np.arange(8)[None, :] >= sizes[:, None]] = 0
    magnitude = np.ascontiguousarray(window).view("<u8")[:, 0]
    if np.any(magnitude > np.iinfo(np.int64).max):
        raise ModelUnavailable("malformed dlib model file: integer out of range")
    values = magnitude.astype(np.int64)
    return np.where(control & 0x80, -values, values)


def _floats(mantissas: I64, exponents: I64) -> npt.NDArray[np.float32]:
    values = np.ldexp(mantissas.astype(np.float64), np.clip(exponents, -2000, 2000).astype(np.int32))
    for code, special in _FLOAT_SPECIALS.items():
        values[exponents == code] = special
    return values.astype(np.float32)


class _Tokens:
    """Cursor over decoded integer tokens with structural checks."""

    def __init__(self, values: I64) -> None:
        self.values = values
        self.pos = 0

    def take(self, count: int) -> I64:
        if count < 0 or self.pos + count > len(self.values):
            raise ModelUnavailable("malformed dlib model file: unexpected end of file")
        chunk = self.values[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def one(self) -> int:
        return int(self.take(1)[0])

    def expect(self, positions: I64, expected: int, what: str) -> None:
        if positions.size and np.any(self.values[positions] != expected):
            raise ModelUnavailable(f"malformed dlib model file: irregular {what}")


def parse_shape_predictor(data: bytes) -> dict[str, npt.NDArray[np.generic]]:
    """Parse the bytes of a dlib ``shape_predictor`` file into the arrays listed in the module doc.

    Raises:
        ModelUnavailable: the bytes are not a shape predictor this parser understands.
    """
    reader = DlibReader(data)
    version = reader.read_int()
    if version != 1:
        raise ModelUnavailable(f"unsupported shape_predictor version {version}")
    initial = reader.read_matrix()
    if initial.shape[1] != 1 or initial.shape[0] % 2:
        raise ModelUnavailable("malformed dlib model file: initial_shape is not a column of (x, y) pairs")
    n_parts = initial.shape[0] // 2
    tokens = _Tokens(_decode_tokens(data, _token_starts(data, reader.pos)))

    n_levels = tokens.one()
    n_trees = int(tokens.values[tokens.pos])
    n_splits = int(tokens.values[tokens.pos + 1])
    n_leaves = int(tokens.values[tokens.pos + 2 + 4 * n_splits])
    if n_levels < 1 or n_trees < 1 or n_splits < 1 or n_leaves != n_splits + 1:
        raise ModelUnavailable("malformed dlib model file: unexpected forest shape")
    leaf_tokens = 2 + 4 * n_parts
    tree_tokens = 2 + 4 * n_splits + n_leaves * leaf_tokens
    level_tokens = 1 + n_trees * tree_tokens
    forest = tokens.take(n_levels * level_tokens).reshape(n_levels, level_tokens)
    base = tokens.pos - n_levels * level_tokens
    level_starts = base + np.arange(n_levels) * level_tokens
    tokens.expect(level_starts, n_trees, "tree count")
    tree_starts = (level_starts[:, None] + 1 + np.arange(n_trees) * tree_tokens).ravel()
    tokens.expect(tree_starts, n_splits, "split count")
    tokens.expect(tree_starts + 1 + 4 * n_splits, n_leaves, "leaf count")
    leaf_starts = (tree_starts[:, None] + 2 + 4 * n_splits + np.arange(n_leaves) * leaf_tokens).ravel()
    tokens.expect(leaf_starts, -2 * n_parts, "leaf matrix rows")
    tokens.expect(leaf_starts + 1, -1, "leaf matrix columns")

    trees = forest[:, 1:].reshape(n_levels, n_trees, tree_tokens)
    splits = trees[:, :, 1 : 1 + 4 * n_splits].reshape(n_levels, n_trees, n_splits, 4)
    leaves = trees[:, :, 2 + 4 * n_splits :].reshape(n_levels, n_trees, n_leaves, leaf_tokens)[..., 2:]
    leaves = leaves.reshape(n_levels, n_trees, n_leaves, 2 * n_parts, 2)

    anchors = _per_level_vectors(tokens, n_levels, 1, "anchor_idx")
    deltas_raw = _per_level_vectors(tokens, n_levels, 4, "deltas")
    if tokens.pos != len(tokens.values):
        raise ModelUnavailable(f"malformed dlib model file: {len(tokens.values) - tokens.pos} trailing values")
    n_features = anchors.shape[1]
    if deltas_raw.shape[1] != n_features:
        raise ModelUnavailable("malformed dlib model file: anchor and delta counts differ")
    split_idx = splits[..., :2]
    if np.any(split_idx < 0) or np.any(split_idx >= n_features) or np.any(anchors < 0) or np.any(anchors >= n_parts):
        raise ModelUnavailable("malformed dlib model file: index out of range")

    return {
        "initial_shape": initial.reshape(n_parts, 2).astype(np.float32),
        "split_idx": split_idx.astype(np.int32),
        "split_thresh": _floats(splits[..., 2], splits[..., 3]),
        "leaf_values": _floats(leaves[..., 0], leaves[..., 1]).reshape(n_levels, n_trees, n_leaves, n_parts, 2),
        "anchor_idx": anchors.astype(np.int32),
        "deltas": _floats(deltas_raw[..., 0::2], deltas_raw[..., 1::2]),
    }


def _per_level_vectors(tokens: _Tokens, n_levels: int, width: int, what: str) -> I64:
    """A vector (one per level) of equally long vectors of ``width``-token items -> (levels, n, width)."""
    if tokens.one() != n_levels:
        raise ModelUnavailable(f"malformed dlib model file: {what} has the wrong number of levels")
    count = int(tokens.values[tokens.pos])
    block = tokens.take(n_levels * (1 + count * width)).reshape(n_levels, 1 + count * width)
    if np.any(block[:, 0] != count):
        raise ModelUnavailable(f"malformed dlib model file: irregular {what}")
    items = block[:, 1:].reshape(n_levels, count, width)
    return items[..., 0] if width == 1 else items


def write_npz_deterministic(path: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    """Write arrays as an uncompressed ``.npz`` whose bytes depend only on the arrays and their order.

    ``np.savez`` stamps each member with the current time; here every member gets the same
    fixed timestamp and permissions.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def convert_shape_predictor(dat_path: Path, out_path: Path) -> None:
    """Parse a dlib 5-point (or any complete-tree) shape predictor and save it as ``.npz``.

    Args:
        dat_path: ``shape_predictor_5_face_landmarks.dat`` (see
            :func:`facegate.modelbuild.sources.dlib_model_file`).
        out_path: destination ``.npz``; same input gives the same bytes.

    Raises:
        ModelUnavailable: the input is missing or malformed.
    """
    try:
        data = dat_path.read_bytes()
    except OSError as exc:
        raise ModelUnavailable(f"cannot read {dat_path.name}") from exc
    arrays = parse_shape_predictor(data)
    write_npz_deterministic(out_path, {name: arrays[name] for name in ARRAY_NAMES})
