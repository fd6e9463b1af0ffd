/**
 * On-device image handling shared by both pages.
 *
 * Public API:
 *   fitWithin(width, height, maxSide) -> {width, height}   scaled down (never up) so the longest side <= maxSide.
 *   frameToJpeg(source, maxSide, quality) -> Promise<Blob> a JPEG of a <video>, <img>, ImageBitmap or canvas.
 *   fileToJpeg(file, maxSide, quality) -> Promise<Blob>    decodes a picked file (EXIF-upright), then as above.
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
