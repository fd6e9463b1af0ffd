/**
 * Door kiosk page (served at /kiosk): camera preview, continuous QR scanning, signed bursts of frames
 * to POST /doors/<door_id>/verify, and GRANTED / DENIED with what to do next.
 *
 * Claim first: the camera picture is scanned for QR codes all the time (jsQR in a Web Worker,
 * qr-worker.js; desktop Chromium has no BarcodeDetector, which is used only when jsQR is missing). A
 * visitor who holds the QR code from their registration page up next to their face is checked at once,
 * the code going with the frames in the same signed request (X-Facegate-Claim). A code can also be typed
 * after a deny that asks for it.
 *
 * Each attempt sends BURST_FRAMES (2) frames a few hundred ms apart, chosen for quality: candidate frames are
 * taken over BURST_WINDOW_MS, scored on a small grey copy (sharpness = mean squared Laplacian, exposure
 * = mean brightness), and the best ones at least MIN_GAP_MS apart are sent, in time order.
 *
 * Head-turn check (setting "liveness", off by default; needed for face-only entry at high-security sites): a
 * face-only attempt first asks POST /doors/<door_id>/challenge (signed like verify; with "sideways" the body
 * asks for left/right only) for a random sequence such as straight → left → up, shows each step as a big arrow
 * over the (mirrored) preview with its words (ko/en), waits STEP_MOVE_MS for the head to move, takes
 * CHALLENGE_FRAMES_PER_STEP frames, and sends all of them in step order with the signed X-Facegate-Challenge
 * header. The server checks the movement before any matching; a failed check is a deny with next = retry.
 * Attempts with a claim code (QR or typed) skip it: the code check is 1:1.
 *
 * The response is {decision, decision_id, unlock_token (grant only), next, hint}; the page shows only
 * GRANTED / DENIED and the next step (`next`: show_code | retry | see_reception), with an icon and a line of
 * advice on a deny whose `hint` says so (`lower_mask`: "Please lower your mask"). It never shows a
 * similarity, a threshold or a reason: the server keeps those in its audit log.
 *
 * Settings (api url, door id, key id, secret, auto, interval) are kept in localStorage under
 * "facegate.kiosk.settings". The signature covers the exact multipart bytes that are sent (terminal.js);
 * PATH is the pathname of the request URL (an API address with a path prefix is signed with it).
 *
 * Stable hooks for tests and the end-to-end flow (do not rename):
 *   body[data-ready="true"]   once the page is wired up
 *   body[data-qr-decoder = jsqr | barcode-detector | none]   once known
 *   #lang-switch #settings-toggle[aria-expanded]
 *   #settings-panel #settings-form #set-api-url #set-door-id #set-key-id #set-secret #secret-saved-hint
 *   #set-auto #set-interval #settings-save #settings-clear #settings-status
 *   #kiosk-video #camera-status #camera-start #kiosk-prompt #verify-btn (disabled until set up) #qr-status[data-seen]
 *   #set-liveness #set-sideways #challenge[data-step = straight | left | right | up | down | ""][data-index]
 *   #result[data-decision = idle | checking | grant | deny | error | wait][data-next][data-code][data-claim][data-hint]
 *   #result-decision #result-hint[hidden] #result-hint-text #result-next #retry-countdown[data-seconds]
 *   #claim-panel #claim-form #claim-input #claim-send #claim-cancel #claim-status
 *   window event "facegate:grant" {detail: {door_id, decision_id, unlock_token}} for a door-controller bridge.
 *   #pair-form #pair-code #pair-send #pair-status #paired-as, body[data-paired = true | failed]
 *
 * Pairing (pairing.js): /kiosk?pair=CODE, a scanned pairing QR (the same URL) or a typed code is sent to
 * POST /pair once; the terminal id, key id, secret and doors it returns become the settings (first door).
 */

import { applyTranslations, initialLanguage, hasString, saveLanguage, t } from './i18n.js';
import { request } from './api.js';
import { fitWithin, frameQuality, pickFrames, playStream } from './imaging.js';
import { buildMultipart, signedHeaders } from './terminal.js';
import { normalisePairingCode, pairKiosk, pairingCodeFrom, validPairingCode } from './pairing.js';
import './console-i18n.js';

const SETTINGS_KEY = 'facegate.kiosk.settings';
const MAX_SIDE_PX = 640;
const JPEG_QUALITY = 0.9;
// Two frames, not three: the door policy holds a probe of F fused frames to the threshold calibrated for F on
// fused *different* photos. At a 10-visitor door (standard level, sface-yunet-fp32-195e0806ace0) F = 2 needs
// 0.706 and lets 84% of visitors in, F = 3 needs 0.752 for the same 84% (`DoorPolicy.face_only`); frames of
// one real burst are more alike than those photos (README, scripts/burst_bounds.py), so each extra frame
// raises the bar by more than it gives. The claim QR covers the rest.
const BURST_FRAMES = 2;
const BURST_WINDOW_MS = 700;
const CANDIDATE_EVERY_MS = 100;
const MIN_GAP_MS = 250;
const GRANT_SHOWN_MS = 6000;
const DENY_SHOWN_MS = 30000;
const ERROR_SHOWN_MS = 20000;
const DEFAULT_WAIT_S = 30;
const SCAN_EVERY_MS = 200;
// QR codes are read at the camera's full resolution (up to 1280 px): jsQR needs the code about 96 px wide
// (3.3 px per module) with a little blur, 160 px with more (scripts/measure_qr_scan.py), and a phone held
// at arm's length is a small part of the picture.
const SCAN_MAX_SIDE_PX = 1280;
const QR_FRESH_MS = 2000;
const QR_GONE_MS = 2500;
const FRAMES_REUSE_MS = 60000;
const QR_RETRY_MS = 3000;
const CLAIM_PATTERN = /^[A-Z0-9]{8}$/;
const NEXT_STEPS = ['show_code', 'retry', 'see_reception'];
// A deny's optional advice about the frames themselves (`hint`); unknown values are ignored.
const HINTS = ['lower_mask'];
const DEFAULTS = { apiUrl: '', doorId: '', keyId: '', secret: '', auto: false, interval: 5, liveness: false, sideways: false };
// Head-turn challenge: the first step (straight) needs only a moment; each turn gets time to happen. Three steps
// take about 4 s, well inside the challenge's 10 s.
const FIRST_STEP_MS = 600;
const STEP_MOVE_MS = 1200;
const CHALLENGE_FRAMES_PER_STEP = 2;
const CHALLENGE_WINDOW_MS = 300;
const CHALLENGE_GAP_MS = 120;
// Arrows as the visitor sees them in the mirrored preview: their own left is on the screen's left.
const ARROWS = { straight: '◎', left: '←', right: '→', up: '↑', down: '↓' };

const $ = (selector) => document.querySelector(selector);

const state = {
  lang: initialLanguage(),
  settings: loadSettings(),
  stream: null,
  busy: false,
  lastFrames: null,
  lastNext: null,
  lastFramesAt: 0,
  result: { decision: 'idle' },
  resetTimer: null,
  autoTimer: null,
  waitUntil: 0,
  waitTimer: null,
  decoder: null,
  qr: { code: null, seenAt: 0, tried: null, retryAt: 0 },
  pairing: false,
  pairedCodes: new Set(),
};

const tr = (key, vars) => t(state.lang, key, vars);

// ---- settings -------------------------------------------------------------------------------------

function loadSettings() {
  try {
    const saved = JSON.parse(window.localStorage.getItem(SETTINGS_KEY) || '{}');
    return { ...DEFAULTS, ...(saved && typeof saved === 'object' ? saved : {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

function settingsComplete(settings = state.settings) {
  return Boolean(settings.doorId && settings.keyId && settings.secret);
}

function validApiUrl(value) {
  if (!value) return true;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function fillSettingsForm() {
  const s = state.settings;
  $('#set-api-url').value = s.apiUrl;
  $('#set-door-id').value = s.doorId;
  $('#set-key-id').value = s.keyId;
  $('#set-secret').value = '';
  $('#secret-saved-hint').hidden = !s.secret;
  $('#set-auto').checked = Boolean(s.auto);
  $('#set-interval').value = String(s.interval);
  $('#set-liveness').checked = Boolean(s.liveness);
  $('#set-sideways').checked = Boolean(s.sideways);
}

function setStatus(element, key, vars = {}, kind = '') {
  element.dataset.msg = JSON.stringify([key, vars]);
  element.textContent = tr(key, vars);
  element.className = `message ${kind}`.trim();
  element.hidden = false;
}

function clearStatus(element) {
  delete element.dataset.msg;
  element.textContent = '';
  element.hidden = true;
}

function saveSettings(event) {
  event.preventDefault();
  const apiUrl = $('#set-api-url').value.trim().replace(/\/+$/, '');
  if (!validApiUrl(apiUrl)) {
    setStatus($('#settings-status'), 'kiosk.settings_invalid_url', {}, 'error');
    $('#set-api-url').focus();
    return;
  }
  const interval = Math.min(60, Math.max(2, Math.round(Number($('#set-interval').value) || DEFAULTS.interval)));
  const next = {
    apiUrl,
    doorId: $('#set-door-id').value.trim(),
    keyId: $('#set-key-id').value.trim(),
    secret: $('#set-secret').value || state.settings.secret,
    auto: $('#set-auto').checked,
    interval,
    liveness: $('#set-liveness').checked,
    sideways: $('#set-sideways').checked,
  };
  if (!settingsComplete(next)) {
    setStatus($('#settings-status'), 'kiosk.settings_missing', {}, 'error');
    return;
  }
  state.settings = next;
  window.localStorage.setItem(SETTINGS_KEY, JSON.stringify(next));
  fillSettingsForm();
  setStatus($('#settings-status'), 'kiosk.saved', {}, '');
  showSettings(false);
  restartAuto();
  renderPrompt();
  renderButtons();
  $('#verify-btn').focus();
}

function clearSettings() {
  window.localStorage.removeItem(SETTINGS_KEY);
  state.settings = { ...DEFAULTS };
  fillSettingsForm();
  restartAuto();
  renderPrompt();
  renderButtons();
  renderPairedAs();
  setStatus($('#settings-status'), 'kiosk.cleared', {}, '');
}

function showSettings(open) {
  $('#settings-panel').hidden = !open;
  $('#settings-toggle').setAttribute('aria-expanded', String(open));
  if (open) $('#settings-heading').focus();
}

function endpoint(settings, action = 'verify') {
  const base = (settings.apiUrl || window.location.origin).replace(/\/+$/, '');
  return `${base}/doors/${encodeURIComponent(settings.doorId)}/${action}`;
}

// ---- camera ---------------------------------------------------------------------------------------

async function startCamera() {
  clearStatus($('#camera-status'));
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus($('#camera-status'), 'camera.unavailable', {}, 'warning');
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (error) {
    const key = error && error.name === 'NotAllowedError' ? 'camera.denied' : 'camera.unavailable';
    setStatus($('#camera-status'), key, {}, 'warning');
    $('#camera-start').hidden = false;
    return;
  }
  await playStream($('#kiosk-video'), state.stream);
  $('#camera-start').hidden = true;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForVideo(video) {
  for (let i = 0; i < 50 && (video.readyState < 2 || !video.videoWidth); i++) await sleep(100);
}

function drawFrame(video, maxSide) {
  const { width, height } = fitWithin(video.videoWidth, video.videoHeight, maxSide);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(video, 0, 0, width, height);
  return canvas;
}

function canvasToJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('JPEG encoding failed'))), 'image/jpeg', JPEG_QUALITY);
  });
}

async function captureBurst(count = BURST_FRAMES, windowMs = BURST_WINDOW_MS, gapMs = MIN_GAP_MS) {
  const video = $('#kiosk-video');
  await waitForVideo(video);
  const started = performance.now();
  const candidates = [];
  while (candidates.length < count || performance.now() - started < windowMs) {
    const canvas = drawFrame(video, MAX_SIDE_PX);
    candidates.push({ canvas, at: performance.now() - started, ...frameQuality(canvas) });
    await sleep(Math.min(CANDIDATE_EVERY_MS, gapMs));
  }
  const picked = pickFrames(candidates, count, gapMs);
  for (let index = 0; picked.length < count && index < candidates.length; index++) {
    if (!picked.includes(index)) picked.push(index);
  }
  picked.sort((a, b) => a - b);
  const frames = [];
  for (const index of picked) {
    const blob = await canvasToJpeg(candidates[index].canvas);
    frames.push(new Uint8Array(await blob.arrayBuffer()));
  }
  return frames;
}

// ---- head-turn challenge --------------------------------------------------------------------------

function showStep(step, index) {
  const box = $('#challenge');
  box.dataset.step = step || '';
  box.dataset.index = step ? String(index) : '';
  $('#challenge-arrow').textContent = step ? ARROWS[step] || '' : '';
  $('#challenge-text').textContent = step ? tr(`challenge.${step}`) : '';
  box.hidden = !step;
}

async function signedPost(action, body, contentType, extra = {}) {
  const url = endpoint(state.settings, action);
  const path = new URL(url, window.location.href).pathname;
  const headers = await signedHeaders({
    secret: state.settings.secret,
    keyId: state.settings.keyId,
    method: 'POST',
    path,
    body,
    ...extra,
  });
  if (contentType) headers['Content-Type'] = contentType;
  return request(url, { method: 'POST', headers, body });
}

/** Ask for a challenge, prompt each step, take its frames: {challengeId, frames, straightFrames} or {result}
 * (the server's refusal, handled like a verify answer). */
async function followChallenge() {
  const body = state.settings.sideways
    ? new TextEncoder().encode(JSON.stringify({ movements: ['left', 'right'] }))
    : new Uint8Array(0);
  const asked = await signedPost('challenge', body, state.settings.sideways ? 'application/json' : null);
  const data = asked.data;
  if (!asked.ok || !data || !Array.isArray(data.steps) || typeof data.challenge_id !== 'string') return { result: asked };
  const frames = [];
  let straightFrames = [];
  try {
    for (const [index, step] of data.steps.entries()) {
      showStep(step, index);
      await sleep(index === 0 ? FIRST_STEP_MS : STEP_MOVE_MS);
      const taken = await captureBurst(CHALLENGE_FRAMES_PER_STEP, CHALLENGE_WINDOW_MS, CHALLENGE_GAP_MS);
      if (step === 'straight') straightFrames = taken;
      frames.push(...taken);
    }
  } finally {
    showStep(null, 0);
  }
  return { challengeId: data.challenge_id, frames, straightFrames };
}

// ---- QR codes in view -----------------------------------------------------------------------------

function normaliseClaim(value) {
  return String(value || '')
    .trim()
    .toUpperCase()
    .replace(/[\s-]/g, '');
}

/** A decoder {name, decode(ImageData) -> Promise<string|null>}: jsQR in a worker, else BarcodeDetector. */
async function createDecoder() {
  const worker = await startWorker();
  if (worker) return worker;
  if ('BarcodeDetector' in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (Array.isArray(formats) && formats.includes('qr_code')) {
        const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
        return {
          name: 'barcode-detector',
          decode: async (image) => {
            const codes = await detector.detect(image);
            return codes.length ? codes[0].rawValue : null;
          },
        };
      }
    } catch {
      // No usable BarcodeDetector either.
    }
  }
  return null;
}

function startWorker() {
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(new URL('./qr-worker.js', import.meta.url));
    } catch {
      resolve(null);
      return;
    }
    const pending = new Map();
    let nextId = 1;
    const decoder = {
      name: 'jsqr',
      decode: (image) =>
        new Promise((done) => {
          const id = nextId++;
          pending.set(id, done);
          worker.postMessage({ id, width: image.width, height: image.height, buffer: image.data.buffer }, [
            image.data.buffer,
          ]);
        }),
    };
    worker.onmessage = (event) => {
      const message = event.data || {};
      if (message.type === 'ready') {
        if (message.ok) resolve(decoder);
        else {
          worker.terminate();
          resolve(null);
        }
      } else if (message.type === 'result' && pending.has(message.id)) {
        pending.get(message.id)(message.text);
        pending.delete(message.id);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      for (const done of pending.values()) done(null);
      pending.clear();
      resolve(null);
    };
  });
}

function qrInView(now = Date.now()) {
  return state.qr.code && now - state.qr.seenAt <= QR_FRESH_MS ? state.qr.code : null;
}

function renderQrStatus() {
  const seen = Boolean(qrInView());
  const element = $('#qr-status');
  element.dataset.seen = String(seen);
  element.textContent = seen ? tr('kiosk.qr_seen') : '';
  element.hidden = !seen;
}

async function scanLoop() {
  const video = $('#kiosk-video');
  for (;;) {
    await sleep(SCAN_EVERY_MS);
    const now = Date.now();
    if (state.qr.tried && now - state.qr.seenAt > QR_GONE_MS) state.qr.tried = null;
    renderQrStatus();
    if (document.visibilityState !== 'visible' || !state.stream || video.readyState < 2 || !video.videoWidth) continue;
    let text = null;
    try {
      const canvas = drawFrame(video, SCAN_MAX_SIDE_PX);
      const image = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      text = await state.decoder.decode(image);
    } catch {
      text = null;
    }
    const pairCode = pairingCodeFrom(text, window.location.origin);
    if (pairCode) {
      // A set-up kiosk pairs from a QR only while its settings are open: a stray pairing QR never re-pairs it.
      if (!settingsComplete() || !$('#settings-panel').hidden) onPairingCode(pairCode);
      continue;
    }
    const code = normaliseClaim(text);
    if (!CLAIM_PATTERN.test(code)) continue;
    state.qr.code = code;
    state.qr.seenAt = Date.now();
    renderQrStatus();
    onCodeInView(code);
  }
}

/** A new code in view starts an attempt with it at once (claim first); the same code is tried again only
 * after it left the picture for QR_GONE_MS, or QR_RETRY_MS after an answer that said "retry" (no usable face). */
function onCodeInView(code) {
  const again = state.qr.retryAt > 0 && Date.now() >= state.qr.retryAt;
  if ((state.qr.tried === code && !again) || state.busy || isWaiting() || !settingsComplete()) return;
  if (state.result.decision === 'grant') return;
  verify({ claim: code, fromQr: true });
}

// ---- verify ---------------------------------------------------------------------------------------

function isWaiting() {
  return Date.now() < state.waitUntil;
}

async function verify({ claim = null, typed = false, auto = false, fromQr = false } = {}) {
  if (state.busy || isWaiting()) return;
  if (!settingsComplete()) {
    showResult({ decision: 'error', reasonKey: 'kiosk.settings_missing', code: 'settings_missing' });
    showSettings(true);
    return;
  }
  if (!window.crypto || !window.crypto.subtle) {
    showResult({ decision: 'error', reasonKey: 'kerror.crypto_unavailable', code: 'crypto_unavailable' });
    return;
  }
  state.busy = true;
  renderButtons();
  showResult({ decision: 'checking' });
  try {
    const reuse =
      typed && state.lastFrames && state.lastNext === 'show_code' && Date.now() - state.lastFramesAt < FRAMES_REUSE_MS;
    if (claim === null && !typed) claim = qrInView();
    const challenged = state.settings.liveness && claim === null && !typed;
    let frames;
    let challengeId = null;
    try {
      if (challenged) {
        const followed = await followChallenge();
        if (followed.result) {
          handleResponse(followed.result, { claim: null, auto: false });
          return;
        }
        ({ frames, challengeId } = followed);
        state.lastFrames = followed.straightFrames;
        state.lastFramesAt = Date.now();
      } else {
        frames = reuse ? state.lastFrames : await captureBurst();
      }
    } catch {
      showResult({ decision: 'error', reasonKey: 'camera.unavailable', code: 'capture_failed' });
      return;
    }
    if (!reuse && !challenged) {
      state.lastFrames = frames;
      state.lastFramesAt = Date.now();
    }
    if (claim !== null && !typed) {
      state.qr.tried = claim;
      state.qr.retryAt = 0;
    }
    const { body, contentType } = buildMultipart(
      frames.map((bytes, index) => ({ name: 'frame', filename: `frame-${index + 1}.jpg`, contentType: 'image/jpeg', bytes })),
    );
    const result = await signedPost('verify', body, contentType, { claim, challenge: challengeId });
    handleResponse(result, { claim, auto: auto && !fromQr && claim === null });
  } catch {
    showResult({ decision: 'error', reasonKey: 'kerror.crypto_unavailable', code: 'signing_failed' });
  } finally {
    state.busy = false;
    renderButtons();
  }
}

function handleResponse(result, { claim, auto }) {
  const data = result.data;
  if (result.ok && data && (data.decision === 'grant' || data.decision === 'deny')) {
    const granted = data.decision === 'grant';
    const next = granted ? null : NEXT_STEPS.includes(data.next) ? data.next : 'see_reception';
    state.lastNext = next;
    if (claim !== null && next === 'retry') state.qr.retryAt = Date.now() + QR_RETRY_MS;
    if (auto && next === 'retry') {
      // Nobody (or nobody usable) in front of an automatic check: stay quiet.
      resetResult();
      return;
    }
    const hint = !granted && HINTS.includes(data.hint) ? data.hint : null;
    showResult({ decision: data.decision, next, claim: claim !== null, hint });
    if (granted) {
      closeClaim();
      window.dispatchEvent(
        new CustomEvent('facegate:grant', {
          detail: { door_id: state.settings.doorId, decision_id: data.decision_id, unlock_token: data.unlock_token },
        }),
      );
    } else if (next === 'show_code') {
      openClaim();
    } else {
      closeClaim();
    }
    return;
  }
  if (result.status === 429 || result.status === 503) {
    startWait(result.retryAfter ?? DEFAULT_WAIT_S, result.code);
    return;
  }
  const code = result.code;
  let reasonKey = 'error.unknown';
  if (code === 'network_error') reasonKey = 'error.network';
  else if (hasString(`kerror.${code}`)) reasonKey = `kerror.${code}`;
  else if (hasString(`error.${code}`)) reasonKey = `error.${code}`;
  else if (result.status >= 500) reasonKey = 'error.internal_error';
  showResult({ decision: 'error', reasonKey, reasonVars: { code }, code });
}

function startWait(seconds, code) {
  state.waitUntil = Date.now() + seconds * 1000;
  const key = hasString(`kerror.${code}`) ? `kerror.${code}` : 'kerror.wait';
  const tick = () => {
    const remaining = Math.max(0, Math.ceil((state.waitUntil - Date.now()) / 1000));
    const badge = $('#retry-countdown');
    badge.dataset.seconds = String(remaining);
    badge.textContent = `${remaining}`;
    badge.hidden = remaining === 0;
    showResult({ decision: 'wait', reasonKey: key, reasonVars: { seconds: remaining }, code, keepTimer: true });
    if (remaining === 0) {
      clearInterval(state.waitTimer);
      state.waitTimer = null;
      state.waitUntil = 0;
      resetResult();
    }
    renderButtons();
  };
  clearInterval(state.waitTimer);
  state.waitTimer = setInterval(tick, 1000);
  tick();
}

function showResult(result) {
  state.result = result;
  if (!result.keepTimer) {
    clearTimeout(state.resetTimer);
    const delay =
      result.decision === 'grant' ? GRANT_SHOWN_MS : result.decision === 'deny' ? DENY_SHOWN_MS : ERROR_SHOWN_MS;
    if (result.decision !== 'checking' && result.decision !== 'idle' && !isWaiting()) {
      state.resetTimer = setTimeout(resetResult, delay);
    }
  }
  renderResult();
}

function resetResult() {
  clearTimeout(state.resetTimer);
  closeClaim();
  $('#retry-countdown').hidden = true;
  state.result = { decision: 'idle' };
  renderResult();
}

function renderResult() {
  const r = state.result;
  const box = $('#result');
  box.dataset.decision = r.decision;
  box.dataset.next = r.next || '';
  box.dataset.code = r.code || '';
  box.dataset.claim = r.decision === 'grant' || r.decision === 'deny' ? String(Boolean(r.claim)) : '';
  const hint = r.decision === 'deny' && r.hint ? r.hint : '';
  box.dataset.hint = hint;
  $('#result-hint').hidden = !hint;
  $('#result-hint-text').textContent = hint ? tr(`hint.${hint}`) : '';
  const titles = {
    grant: 'kiosk.grant',
    deny: 'kiosk.deny',
    error: 'kiosk.error',
    wait: 'kiosk.wait',
    checking: 'kiosk.checking',
  };
  $('#result-decision').textContent = titles[r.decision] ? tr(titles[r.decision]) : '';
  let text = '';
  if (r.decision === 'grant') text = tr('next.grant');
  else if (r.decision === 'deny') text = tr(`next.${r.next}`);
  else if (r.reasonKey) text = tr(r.reasonKey, r.reasonVars || {});
  $('#result-next').textContent = text;
}

/** "Check my face" is disabled (and looks it) until the kiosk is set up, while a check runs, and while waiting. */
function renderButtons() {
  $('#verify-btn').disabled = state.busy || isWaiting() || !settingsComplete();
  $('#claim-send').disabled = state.busy || isWaiting();
}

function renderPrompt() {
  const s = state.settings;
  const text = !settingsComplete()
    ? tr('kiosk.settings_missing')
    : s.auto
      ? tr('kiosk.prompt_auto', { seconds: s.interval })
      : tr('kiosk.prompt');
  $('#kiosk-prompt').textContent = text;
}

// ---- typed claim code -----------------------------------------------------------------------------

function openClaim() {
  const panel = $('#claim-panel');
  const wasHidden = panel.hidden;
  panel.hidden = false;
  if (wasHidden) {
    $('#claim-input').value = '';
    clearStatus($('#claim-status'));
    $('#claim-input').focus();
  }
}

function closeClaim() {
  $('#claim-panel').hidden = true;
  $('#claim-input').value = '';
  clearStatus($('#claim-status'));
}

function sendClaim(event) {
  if (event) event.preventDefault();
  const code = normaliseClaim($('#claim-input').value);
  if (!CLAIM_PATTERN.test(code)) {
    setStatus($('#claim-status'), 'claimui.invalid', {}, 'error');
    $('#claim-input').focus();
    return;
  }
  $('#claim-input').value = code;
  clearStatus($('#claim-status'));
  verify({ claim: code, typed: true });
}

// ---- pairing (a code from the console: typed, scanned as QR, or in the address ?pair=CODE) -------------

async function onPairingCode(code) {
  if (state.pairing || state.pairedCodes.has(code)) return;
  state.pairing = true;
  state.pairedCodes.add(code);
  showSettings(true);
  $('#pair-code').value = code;
  setStatus($('#pair-status'), 'pair.working', {}, '');
  const result = await pairKiosk(code, state.settings.apiUrl);
  state.pairing = false;
  if (!result.ok) {
    const key = result.status === 429 ? 'pair.throttled' : [404, 410].includes(result.status) ? 'pair.invalid' : 'pair.failed';
    setStatus($('#pair-status'), key, { code: result.code }, 'error');
    document.body.dataset.paired = 'failed';
    return;
  }
  const next = { ...state.settings, ...result.settings };
  state.settings = next;
  window.localStorage.setItem(SETTINGS_KEY, JSON.stringify(next));
  fillSettingsForm();
  $('#pair-code').value = '';
  setStatus($('#pair-status'), 'pair.done', { doors: next.doorIds.join(', ') || next.doorId }, '');
  document.body.dataset.paired = 'true';
  renderPairedAs();
  restartAuto();
  renderPrompt();
  renderButtons();
  showSettings(false);
  $('#verify-btn').focus();
}

function submitPairing(event) {
  event.preventDefault();
  const code = normalisePairingCode($('#pair-code').value);
  if (!validPairingCode(code)) {
    setStatus($('#pair-status'), 'pair.invalid', {}, 'error');
    $('#pair-code').focus();
    return;
  }
  state.pairedCodes.delete(code);
  onPairingCode(code);
}

function renderPairedAs() {
  const element = $('#paired-as');
  const terminal = state.settings.terminalId;
  element.hidden = !terminal || !settingsComplete();
  if (terminal) element.textContent = tr('pair.paired_as', { terminal });
}

// ---- auto mode, language, wiring ------------------------------------------------------------------

function restartAuto() {
  clearInterval(state.autoTimer);
  state.autoTimer = null;
  if (!state.settings.auto || !settingsComplete()) return;
  state.autoTimer = setInterval(() => {
    const claimOpen = !$('#claim-panel').hidden;
    const showing = state.result.decision === 'grant';
    if (!state.busy && !isWaiting() && !claimOpen && !showing && state.stream && document.visibilityState === 'visible') {
      verify({ auto: true });
    }
  }, state.settings.interval * 1000);
}

function applyLanguage() {
  applyTranslations(state.lang);
  $('#lang-switch').lang = state.lang === 'ko' ? 'en' : 'ko';
  for (const element of document.querySelectorAll('[data-msg]')) {
    const [key, vars] = JSON.parse(element.dataset.msg);
    element.textContent = tr(key, vars);
  }
  renderPrompt();
  renderResult();
  renderQrStatus();
  renderPairedAs();
}

function wire() {
  $('#lang-switch').addEventListener('click', () => {
    state.lang = state.lang === 'ko' ? 'en' : 'ko';
    saveLanguage(state.lang);
    applyLanguage();
  });
  $('#settings-toggle').addEventListener('click', () => showSettings($('#settings-panel').hidden));
  $('#settings-form').addEventListener('submit', saveSettings);
  $('#settings-clear').addEventListener('click', clearSettings);
  $('#pair-form').addEventListener('submit', submitPairing);
  $('#camera-start').addEventListener('click', startCamera);
  $('#verify-btn').addEventListener('click', () => verify());
  $('#claim-form').addEventListener('submit', sendClaim);
  $('#claim-cancel').addEventListener('click', resetResult);
  window.addEventListener('pagehide', () => {
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  });
}

async function main() {
  wire();
  fillSettingsForm();
  applyLanguage();
  const pairCode = pairingCodeFrom(window.location.href, window.location.origin);
  if (window.location.search) window.history.replaceState(null, '', window.location.pathname);
  if (pairCode) onPairingCode(pairCode);
  else if (!settingsComplete()) showSettings(true);
  restartAuto();
  renderButtons();
  document.body.dataset.ready = 'true';
  await startCamera();
  state.decoder = await createDecoder();
  document.body.dataset.qrDecoder = state.decoder ? state.decoder.name : 'none';
  if (state.decoder) scanLoop();
}

main();
