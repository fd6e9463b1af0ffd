/**
 * A small QR Code encoder (ISO/IEC 18004): byte mode, error-correction level M, versions 1-4
 * (up to 62 bytes of UTF-8), all eight masks with the standard penalty rules.
 *
 * Public API:
 *   encodeQR(text, {minVersion = 1, mask = null}) -> {version, size, mask, modules}
 *     modules[row][col] is true for a dark module; mask = null picks the lowest-penalty mask.
 *   renderQR(canvas, text, {scale = 8, quiet = 4}) -> the encodeQR result, drawn on the canvas
 *     (black on white, `quiet` light modules around, `scale` canvas pixels per module).
 *   renderLongQR(canvas, text) -> draws text of any length with the vendored qrcode-generator
 *     (`make web-vendor`; rejects without it), about 264 px a side.
 *   paintModules(canvas, count, isDark, {scale, quiet}) -> draws any square module matrix.
 */

const EC_LEVEL_M_BITS = 0b00;

/** Error correction for level M: codewords per block, and data codewords of each block. */
const LEVEL_M_BLOCKS = {
  1: { ecPerBlock: 10, dataBlocks: [16] },
  2: { ecPerBlock: 16, dataBlocks: [28] },
  3: { ecPerBlock: 26, dataBlocks: [44] },
  4: { ecPerBlock: 18, dataBlocks: [32, 32] },
};
const MAX_VERSION = 4;

// GF(256) arithmetic with the QR primitive polynomial x^8 + x^4 + x^3 + x^2 + 1.
const GF_EXP = new Uint8Array(512);
const GF_LOG = new Uint8Array(256);
(function buildGaloisTables() {
  let value = 1;
  for (let power = 0; power < 255; power++) {
    GF_EXP[power] = value;
    GF_LOG[value] = power;
    value <<= 1;
    if (value & 0x100) value ^= 0x11d;
  }
  for (let power = 255; power < 512; power++) GF_EXP[power] = GF_EXP[power - 255];
})();

function gfMultiply(a, b) {
  if (a === 0 || b === 0) return 0;
  return GF_EXP[GF_LOG[a] + GF_LOG[b]];
}

/** Coefficients (highest degree first, leading 1 included) of prod_{i<degree} (x - alpha^i). */
function generatorPolynomial(degree) {
  let poly = [1];
  for (let i = 0; i < degree; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMultiply(poly[j], GF_EXP[i]);
    }
    poly = next;
  }
  return poly;
}

/** Reed-Solomon error-correction codewords of `data` (the remainder of data(x) * x^degree / g(x)). */
export function reedSolomon(data, degree) {
  const generator = generatorPolynomial(degree);
  const remainder = new Array(degree).fill(0);
  for (const byte of data) {
    const factor = byte ^ remainder.shift();
    remainder.push(0);
    for (let i = 0; i < degree; i++) remainder[i] ^= gfMultiply(generator[i + 1], factor);
  }
  return remainder;
}

class BitBuffer {
  constructor() {
    this.bits = [];
  }
  put(value, length) {
    for (let i = length - 1; i >= 0; i--) this.bits.push((value >>> i) & 1);
  }
}

function dataCapacityBytes(version) {
  return LEVEL_M_BLOCKS[version].dataBlocks.reduce((sum, n) => sum + n, 0);
}

/** Data codewords: mode, count, payload, terminator, bit padding and the 0xEC/0x11 pad bytes. */
function dataCodewords(bytes, version) {
  const capacityBits = dataCapacityBytes(version) * 8;
  const buffer = new BitBuffer();
  buffer.put(0b0100, 4);
  buffer.put(bytes.length, 8);
  for (const byte of bytes) buffer.put(byte, 8);
  buffer.put(0, Math.min(4, capacityBits - buffer.bits.length));
  buffer.put(0, (8 - (buffer.bits.length % 8)) % 8);
  for (let pad = 0xec; buffer.bits.length < capacityBits; pad ^= 0xec ^ 0x11) buffer.put(pad, 8);
  const codewords = [];
  for (let i = 0; i < buffer.bits.length; i += 8) {
    let byte = 0;
    for (let j = 0; j < 8; j++) byte = (byte << 1) | buffer.bits[i + j];
    codewords.push(byte);
  }
  return codewords;
}

/** Splits into blocks, adds error correction and interleaves (data first, then EC). */
function finalCodewords(data, version) {
  const { ecPerBlock, dataBlocks } = LEVEL_M_BLOCKS[version];
  const blocks = [];
  let offset = 0;
  for (const length of dataBlocks) {
    const block = data.slice(offset, offset + length);
    offset += length;
    blocks.push({ data: block, ec: reedSolomon(block, ecPerBlock) });
  }
  const result = [];
  const longest = Math.max(...dataBlocks);
  for (let i = 0; i < longest; i++) {
    for (const block of blocks) if (i < block.data.length) result.push(block.data[i]);
  }
  for (let i = 0; i < ecPerBlock; i++) {
    for (const block of blocks) result.push(block.ec[i]);
  }
  return result;
}

class Matrix {
  constructor(version) {
    this.size = 17 + 4 * version;
    this.dark = new Uint8Array(this.size * this.size);
    this.reserved = new Uint8Array(this.size * this.size);
  }
  get(row, col) {
    return this.dark[row * this.size + col] === 1;
  }
  setFunction(row, col, isDark) {
    this.dark[row * this.size + col] = isDark ? 1 : 0;
    this.reserved[row * this.size + col] = 1;
  }
  isReserved(row, col) {
    return this.reserved[row * this.size + col] === 1;
  }
}

function drawFunctionPatterns(matrix, version) {
  const size = matrix.size;
  for (let i = 0; i < size; i++) {
    matrix.setFunction(6, i, i % 2 === 0);
    matrix.setFunction(i, 6, i % 2 === 0);
  }
  for (const [centerRow, centerCol] of [[3, 3], [3, size - 4], [size - 4, 3]]) {
    for (let dr = -4; dr <= 4; dr++) {
      for (let dc = -4; dc <= 4; dc++) {
        const row = centerRow + dr;
        const col = centerCol + dc;
        if (row < 0 || row >= size || col < 0 || col >= size) continue;
        const ring = Math.max(Math.abs(dr), Math.abs(dc));
        matrix.setFunction(row, col, ring !== 2 && ring !== 4);
      }
    }
  }
  if (version >= 2) {
    const center = size - 7;
    for (let dr = -2; dr <= 2; dr++) {
      for (let dc = -2; dc <= 2; dc++) {
        matrix.setFunction(center + dr, center + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
      }
    }
  }
  drawFormatBits(matrix, 0);
}

/** The 15-bit format word: EC level and mask, BCH(15,5) protected, XOR-masked with 0x5412. */
export function formatBits(mask) {
  const data = (EC_LEVEL_M_BITS << 3) | mask;
  let remainder = data;
  for (let i = 0; i < 10; i++) remainder = (remainder << 1) ^ ((remainder >>> 9) * 0x537);
  return ((data << 10) | (remainder & 0x3ff)) ^ 0x5412;
}

function drawFormatBits(matrix, mask) {
  const size = matrix.size;
  const bits = formatBits(mask);
  const bit = (i) => ((bits >>> i) & 1) === 1;
  for (let i = 0; i <= 5; i++) matrix.setFunction(i, 8, bit(i));
  matrix.setFunction(7, 8, bit(6));
  matrix.setFunction(8, 8, bit(7));
  matrix.setFunction(8, 7, bit(8));
  for (let i = 9; i < 15; i++) matrix.setFunction(8, 14 - i, bit(i));
  for (let i = 0; i < 8; i++) matrix.setFunction(8, size - 1 - i, bit(i));
  for (let i = 8; i < 15; i++) matrix.setFunction(size - 15 + i, 8, bit(i));
  matrix.setFunction(size - 8, 8, true);
}

/** Places the codeword bits in the two-column zig-zag, skipping function modules and column 6. */
function placeCodewords(matrix, codewords) {
  const size = matrix.size;
  let bitIndex = 0;
  const totalBits = codewords.length * 8;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upward = ((right + 1) & 2) === 0;
    for (let step = 0; step < size; step++) {
      const row = upward ? size - 1 - step : step;
      for (let j = 0; j < 2; j++) {
        const col = right - j;
        if (matrix.isReserved(row, col)) continue;
        let isDark = false;
        if (bitIndex < totalBits) {
          isDark = ((codewords[bitIndex >>> 3] >>> (7 - (bitIndex & 7))) & 1) === 1;
          bitIndex++;
        }
        matrix.dark[row * size + col] = isDark ? 1 : 0;
      }
    }
  }
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

function applyMask(matrix, mask) {
  const size = matrix.size;
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (!matrix.isReserved(row, col) && MASKS[mask](row, col)) matrix.dark[row * size + col] ^= 1;
    }
  }
}

function linePenalty(line) {
  let penalty = 0;
  let runLength = 1;
  for (let i = 1; i <= line.length; i++) {
    if (i < line.length && line[i] === line[i - 1]) {
      runLength++;
      continue;
    }
    if (runLength >= 5) penalty += 3 + (runLength - 5);
    runLength = 1;
  }
  const padded = [0, 0, 0, 0, ...line, 0, 0, 0, 0];
  const finderLike = [1, 0, 1, 1, 1, 0, 1];
  for (let i = 0; i + 7 <= padded.length; i++) {
    if (!finderLike.every((v, k) => padded[i + k] === v)) continue;
    const lightBefore = i >= 4 && padded.slice(i - 4, i).every((v) => v === 0);
    const lightAfter = i + 11 <= padded.length && padded.slice(i + 7, i + 11).every((v) => v === 0);
    if (lightBefore || lightAfter) penalty += 40;
  }
  return penalty;
}

/** Standard penalty score (rules N1-N4) of a masked matrix; lower is better. */
function penaltyScore(matrix) {
  const size = matrix.size;
  let penalty = 0;
  for (let i = 0; i < size; i++) {
    const row = [];
    const col = [];
    for (let j = 0; j < size; j++) {
      row.push(matrix.dark[i * size + j]);
      col.push(matrix.dark[j * size + i]);
    }
    penalty += linePenalty(row) + linePenalty(col);
  }
  for (let r = 0; r < size - 1; r++) {
    for (let c = 0; c < size - 1; c++) {
      const v = matrix.dark[r * size + c];
      if (v === matrix.dark[r * size + c + 1] && v === matrix.dark[(r + 1) * size + c] && v === matrix.dark[(r + 1) * size + c + 1]) {
        penalty += 3;
      }
    }
  }
  const darkCount = matrix.dark.reduce((sum, v) => sum + v, 0);
  penalty += Math.floor(Math.abs((darkCount * 100) / (size * size) - 50) / 5) * 10;
  return penalty;
}

function buildMatrix(codewords, version, mask) {
  const matrix = new Matrix(version);
  drawFunctionPatterns(matrix, version);
  placeCodewords(matrix, codewords);
  applyMask(matrix, mask);
  drawFormatBits(matrix, mask);
  return matrix;
}

/**
 * Encodes `text` (UTF-8, byte mode, level M) in the smallest version >= minVersion that fits.
 * Throws a RangeError when it does not fit in version 4 (62 bytes).
 */
export function encodeQR(text, { minVersion = 1, mask = null } = {}) {
  const bytes = new TextEncoder().encode(String(text));
  let version = Math.max(1, minVersion);
  while (version <= MAX_VERSION && 12 + bytes.length * 8 > dataCapacityBytes(version) * 8) version++;
  if (version > MAX_VERSION) throw new RangeError(`QR payload too long: ${bytes.length} bytes (max 62)`);
  if (mask !== null && !(Number.isInteger(mask) && mask >= 0 && mask < 8)) throw new RangeError('mask must be 0-7');
  const codewords = finalCodewords(dataCodewords(bytes, version), version);
  let best = null;
  let bestPenalty = Infinity;
  for (const candidate of mask === null ? [0, 1, 2, 3, 4, 5, 6, 7] : [mask]) {
    const matrix = buildMatrix(codewords, version, candidate);
    const penalty = mask === null ? penaltyScore(matrix) : 0;
    if (penalty < bestPenalty) {
      best = { matrix, mask: candidate };
      bestPenalty = penalty;
    }
  }
  const { matrix } = best;
  const modules = [];
  for (let row = 0; row < matrix.size; row++) {
    const line = [];
    for (let col = 0; col < matrix.size; col++) line.push(matrix.get(row, col));
    modules.push(line);
  }
  return { version, size: matrix.size, mask: best.mask, modules };
}

/** Draws `count` x `count` modules on `canvas`, black where `isDark(row, col)`, on white with `quiet`
 * light modules around and `scale` canvas pixels per module. */
export function paintModules(canvas, count, isDark, { scale = 8, quiet = 4 } = {}) {
  const side = (count + 2 * quiet) * scale;
  canvas.width = side;
  canvas.height = side;
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, side, side);
  context.fillStyle = '#000000';
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) {
      if (isDark(row, col)) context.fillRect((col + quiet) * scale, (row + quiet) * scale, scale, scale);
    }
  }
}

/** Draws the QR code of `text` on `canvas` and returns the encodeQR result. */
export function renderQR(canvas, text, { scale = 8, quiet = 4 } = {}) {
  const qr = encodeQR(text);
  paintModules(canvas, qr.size, (row, col) => qr.modules[row][col], { scale, quiet });
  return qr;
}

/** Draws `text` (any length: links) on `canvas` with the vendored qrcode-generator, level M, about 264 px a
 * side (at least 3 px per module); rejects when the vendored module is missing. */
export async function renderLongQR(canvas, text) {
  const generator = await import('./qrcodegen.js');
  const qr = generator.default(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const count = qr.getModuleCount();
  const quiet = 4;
  const scale = Math.max(3, Math.floor(264 / (count + 2 * quiet)));
  paintModules(canvas, count, (row, col) => qr.isDark(row, col), { scale, quiet });
}
