/**
 * QR decoding for the kiosk, off the main thread (a classic Web Worker).
 *
 * The decoder is jsQR (Apache-2.0), vendored from npm at build time into static/jsqr.js
 * (`make web-vendor`; git-ignored). Without it the worker answers {type: 'ready', ok: false} and the
 * kiosk falls back to typed codes.
 *
 * Messages in:  {id, width, height, buffer: ArrayBuffer of RGBA pixels (transferred)}
 * Messages out: {type: 'ready', ok: boolean} once, then {type: 'result', id, text: string | null} per frame.
 */

/* global importScripts, jsQR */
let ready = false;
try {
  importScripts('jsqr.js');
  ready = typeof self.jsQR === 'function';
} catch {
  ready = false;
}
self.postMessage({ type: 'ready', ok: ready });

self.onmessage = (event) => {
  const { id, width, height, buffer } = event.data || {};
  let text = null;
  if (ready && buffer && width > 0 && height > 0) {
    try {
      const found = jsQR(new Uint8ClampedArray(buffer), width, height, { inversionAttempts: 'dontInvert' });
      text = found && typeof found.data === 'string' ? found.data : null;
    } catch {
      text = null;
    }
  }
  self.postMessage({ type: 'result', id, text });
};
