/**
 * On-device image handling shared by both pages.
 *
 * Public API:
 *   fitWithin(width, height, maxSide) -> {width, height}   scaled down (never up) so the longest side <= maxSide.
 *   frameToJpeg(source, maxSide, quality) -> Promise<Blob> a JPEG of a <video>, <img>, ImageBitmap or canvas.
 *   fileToJpeg(file, maxSide, quality) -> Promise<Blob>    decodes a picked file (EXIF-upright), then as above.
 *   frameQuality(canvas, qualityWidth = 160) -> {score, sharpness, brightness}   for choosing burst frames.
 *   pickFrames(candidates [{score, at}], count, gapMs) -> indices: the best, at least gapMs apart, in time order.
 *   playStream(video, stream) -> Promise                   shows a camera stream in a <video> and plays it.
 */

export function fitWithin(width, height, maxSide) {
  const longest = Math.max(width, height);
  if (longest <= maxSide) return { width, height };
  const scale = maxSide / longest;
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function sourceSize(source) {
  if ('videoWidth' in source) return { width: source.videoWidth, height: source.videoHeight };
  if ('naturalWidth' in source) return { width: source.naturalWidth, height: source.naturalHeight };
  return { width: source.width, height: source.height };
}

/** Draws `source` scaled to fit `maxSide` (px) and encodes it as JPEG (`quality` in 0-1). */
export function frameToJpeg(source, maxSide, quality = 0.9) {
  const { width, height } = sourceSize(source);
  if (!width || !height) return Promise.reject(new Error('the image has no pixels yet'));
  const target = fitWithin(width, height, maxSide);
  const canvas = document.createElement('canvas');
  canvas.width = target.width;
  canvas.height = target.height;
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, target.width, target.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('JPEG encoding failed'))), 'image/jpeg', quality);
  });
}

function loadImageElement(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = () => {
      URL.revokeObjectURL(url);
      resolve(image);
    };
    image.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('not a readable image'));
    };
    image.src = url;
  });
}

/** Decodes a user-picked image file upright (EXIF orientation applied) and re-encodes it as a small JPEG. */
export async function fileToJpeg(file, maxSide, quality = 0.9) {
  let source;
  try {
    source = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    source = await loadImageElement(file);
  }
  try {
    return await frameToJpeg(source, maxSide, quality);
  } finally {
    if (typeof source.close === 'function') source.close();
  }
}

/**
 * Quality of a frame for face matching, higher is better: log sharpness (mean squared 4-neighbour
 * Laplacian of the grey centre) minus a penalty for a dark or blown-out picture (mean brightness outside
 * 50-205, and the fraction of clipped pixels).
 */
export function frameQuality(canvas, qualityWidth = 160) {
  const { width, height } = fitWithin(canvas.width, canvas.height, qualityWidth);
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  const context = small.getContext('2d', { willReadFrequently: true });
  context.drawImage(canvas, 0, 0, width, height);
  const x0 = Math.floor(width * 0.2);
  const y0 = Math.floor(height * 0.1);
  const w = Math.max(3, Math.floor(width * 0.6));
  const h = Math.max(3, Math.floor(height * 0.8));
  const pixels = context.getImageData(x0, y0, w, h).data;
  const grey = new Float32Array(w * h);
  let sum = 0;
  let clipped = 0;
  for (let i = 0; i < w * h; i++) {
    const value = 0.299 * pixels[4 * i] + 0.587 * pixels[4 * i + 1] + 0.114 * pixels[4 * i + 2];
    grey[i] = value;
    sum += value;
    if (value <= 5 || value >= 250) clipped++;
  }
  const brightness = sum / (w * h);
  let energy = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const laplacian = 4 * grey[i] - grey[i - 1] - grey[i + 1] - grey[i - w] - grey[i + w];
      energy += laplacian * laplacian;
    }
  }
  const sharpness = energy / ((w - 2) * (h - 2));
  // Clipped pixels (crushed blacks, blown highlights) add false edges and hide the face: penalised as well.
  const exposure =
    (brightness < 50 ? (50 - brightness) / 25 : brightness > 205 ? (brightness - 205) / 25 : 0) +
    (6 * clipped) / (w * h);
  return { score: Math.log1p(sharpness) - exposure, sharpness, brightness };
}

/** The indices of up to `count` candidates, best score first, at least `gapMs` apart, in time order. */
export function pickFrames(candidates, count, gapMs) {
  const order = candidates.map((_, index) => index).sort((a, b) => candidates[b].score - candidates[a].score);
  const chosen = [];
  for (const index of order) {
    if (chosen.length >= count) break;
    if (chosen.every((other) => Math.abs(candidates[other].at - candidates[index].at) >= gapMs)) chosen.push(index);
  }
  return chosen.sort((a, b) => candidates[a].at - candidates[b].at);
}

/** Shows the camera `stream` in `video` and starts playing it (a muted inline video also starts on its own
 * once frames arrive, so a refused play() is not an error). */
export async function playStream(video, stream) {
  video.srcObject = stream;
  try {
    await video.play();
  } catch {
    // muted, inline: frames arrive either way
  }
}
