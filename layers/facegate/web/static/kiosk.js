/**
 * Door kiosk page (served at /kiosk): camera preview, a signed burst of 3 frames to
 * POST /doors/<door_id>/verify, GRANT/DENY, and the claim-code fallback (typed or scanned QR).
 *
 * Settings (api url, door id, key id, secret, auto, interval) are kept in localStorage under
 * "facegate.kiosk.settings". The signature covers the exact multipart bytes that are sent (terminal.js);
 * PATH is the pathname of the request URL (an API address with a path prefix is signed with it).
 *
 * Stable hooks for tests and the end-to-end flow (do not rename):
 *   body[data-ready="true"]   once the page is wired up
 *   #lang-switch #settings-toggle[aria-expanded]
 *   #settings-panel #settings-form #set-api-url #set-door-id #set-key-id #set-secret #secret-saved-hint
 *   #set-auto #set-interval #settings-save #settings-clear #settings-status
 *   #kiosk-video #camera-status #camera-start #kiosk-prompt #verify-btn
 *   #result[data-decision = idle | checking | grant | deny | error | wait][data-reason][data-code][data-mode]
 *   #result-decision #result-reason #result-score #retry-countdown[data-seconds]
 *   #claim-panel #claim-form #claim-input #claim-send #claim-scan (only with BarcodeDetector + qr_code)
 *   #claim-cancel #claim-status
 *   window event "facegate:grant" {detail: {door_id, decision_id, unlock_token}} for a door-controller bridge.
 */

import { applyTranslations, hasString, initialLanguage, saveLanguage, t } from './i18n.js';
import { request } from './api.js';
import { frameToJpeg } from './imaging.js';
import { buildMultipart, signedHeaders } from './terminal.js';

const SETTINGS_KEY = 'facegate.kiosk.settings';
const MAX_SIDE_PX = 640;
const JPEG_QUALITY = 0.9;
const BURST_FRAMES = 3;
const BURST_GAP_MS = 150;
const GRANT_SHOWN_MS = 6000;
const DENY_SHOWN_MS = 60000;
const ERROR_SHOWN_MS = 20000;
const DEFAULT_WAIT_S = 30;
const SCAN_TIMEOUT_MS = 20000;
const SCAN_EVERY_MS = 250;
const CLAIM_PATTERN = /^[A-Z0-9]{8}$/;
const DEFAULTS = { apiUrl: '', doorId: '', keyId: '', secret: '', auto: false, interval: 5 };

const $ = (selector) => document.querySelector(selector);

const state = {
  lang: initialLanguage(),
  settings: loadSettings(),
  stream: null,
  busy: false,
  lastFrames: null,
  lastReason: null,
  result: { decision: 'idle' },
  resetTimer: null,
  autoTimer: null,
  waitUntil: 0,
  waitTimer: null,
  scanning: false,
  canScan: false,
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
  $('#verify-btn').focus();
}

function clearSettings() {
  window.localStorage.removeItem(SETTINGS_KEY);
  state.settings = { ...DEFAULTS };
  fillSettingsForm();
  restartAuto();
  renderPrompt();
  setStatus($('#settings-status'), 'kiosk.cleared', {}, '');
}

function showSettings(open) {
  $('#settings-panel').hidden = !open;
  $('#settings-toggle').setAttribute('aria-expanded', String(open));
  if (open) $('#settings-heading').focus();
}

function endpoint(settings) {
  const base = (settings.apiUrl || window.location.origin).replace(/\/+$/, '');
  return `${base}/doors/${encodeURIComponent(settings.doorId)}/verify`;
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
  const video = $('#kiosk-video');
  video.srcObject = state.stream;
  try {
    await video.play();
  } catch {
    // Muted inline video plays on its own once frames arrive.
  }
  $('#camera-start').hidden = true;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForVideo(video) {
  for (let i = 0; i < 50 && (video.readyState < 2 || !video.videoWidth); i++) await sleep(100);
}

async function captureBurst() {
  const video = $('#kiosk-video');
  await waitForVideo(video);
  const frames = [];
  for (let i = 0; i < BURST_FRAMES; i++) {
    if (i > 0) await sleep(BURST_GAP_MS);
    const blob = await frameToJpeg(video, MAX_SIDE_PX, JPEG_QUALITY);
    frames.push(new Uint8Array(await blob.arrayBuffer()));
  }
  return frames;
}

// ---- verify ---------------------------------------------------------------------------------------

function isWaiting() {
  return Date.now() < state.waitUntil;
}

async function verify({ claim = null, auto = false } = {}) {
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
    const reuse = claim !== null && state.lastFrames && state.lastReason !== 'no_face';
    let frames;
    try {
      frames = reuse ? state.lastFrames : await captureBurst();
    } catch {
      showResult({ decision: 'error', reasonKey: 'camera.unavailable', code: 'capture_failed' });
      return;
    }
    state.lastFrames = frames;
    const { body, contentType } = buildMultipart(
      frames.map((bytes, index) => ({ name: 'frame', filename: `frame-${index + 1}.jpg`, contentType: 'image/jpeg', bytes })),
    );
    const url = endpoint(state.settings);
    const path = new URL(url, window.location.href).pathname;
    const headers = await signedHeaders({
      secret: state.settings.secret,
      keyId: state.settings.keyId,
      method: 'POST',
      path,
      body,
      claim,
    });
    const result = await request(url, { method: 'POST', headers: { ...headers, 'Content-Type': contentType }, body });
    handleResponse(result, claim, auto);
  } catch {
    showResult({ decision: 'error', reasonKey: 'kerror.crypto_unavailable', code: 'signing_failed' });
  } finally {
    state.busy = false;
    renderButtons();
  }
}

function handleResponse(result, claim, auto) {
  if (result.ok && result.data && (result.data.decision === 'grant' || result.data.decision === 'deny')) {
    const data = result.data;
    state.lastReason = data.reason;
    if (auto && data.decision === 'deny' && data.reason === 'no_face') {
      resetResult();
      return;
    }
    const reasonKey = hasString(`reason.${data.reason}`) ? `reason.${data.reason}` : 'reason.unknown';
    showResult({
      decision: data.decision,
      reasonKey,
      reasonVars: { reason: data.reason },
      reason: data.reason,
      mode: data.mode,
      similarity: data.similarity,
      threshold: data.threshold,
    });
    if (data.decision === 'grant') {
      closeClaim();
      window.dispatchEvent(
        new CustomEvent('facegate:grant', {
          detail: { door_id: state.settings.doorId, decision_id: data.decision_id, unlock_token: data.unlock_token },
        }),
      );
    } else {
      openClaim(claim);
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

function formatScore(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(3) : '—';
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
  box.dataset.reason = r.reason || '';
  box.dataset.code = r.code || '';
  box.dataset.mode = r.mode || '';
  const titles = {
    grant: 'kiosk.grant',
    deny: 'kiosk.deny',
    error: 'kiosk.error',
    wait: 'kiosk.wait',
    checking: 'kiosk.checking',
  };
  $('#result-decision').textContent = titles[r.decision] ? tr(titles[r.decision]) : '';
  $('#result-reason').textContent = r.reasonKey ? tr(r.reasonKey, r.reasonVars || {}) : '';
  const scored = r.decision === 'grant' || r.decision === 'deny';
  $('#result-score').textContent = scored
    ? tr('kiosk.score', {
        similarity: formatScore(r.similarity),
        threshold: formatScore(r.threshold),
        mode: tr(r.mode === 'claim' ? 'kiosk.mode_claim' : 'kiosk.mode_identify'),
      })
    : '';
}

function renderButtons() {
  $('#verify-btn').disabled = state.busy || isWaiting();
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

// ---- claim fallback -------------------------------------------------------------------------------

function normaliseClaim(value) {
  return String(value || '')
    .trim()
    .toUpperCase()
    .replace(/[\s-]/g, '');
}

function openClaim(previousClaim) {
  const panel = $('#claim-panel');
  const wasHidden = panel.hidden;
  panel.hidden = false;
  $('#claim-scan').hidden = !state.canScan;
  if (wasHidden) {
    $('#claim-input').value = previousClaim || '';
    clearStatus($('#claim-status'));
    $('#claim-input').focus();
  }
}

function closeClaim() {
  stopScan();
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
  stopScan();
  verify({ claim: code });
}

async function detectScanSupport() {
  if (!('BarcodeDetector' in window)) return false;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return Array.isArray(formats) && formats.includes('qr_code');
  } catch {
    return false;
  }
}

function stopScan() {
  state.scanning = false;
  const button = $('#claim-scan');
  button.dataset.i18n = 'claimui.scan';
  button.textContent = tr('claimui.scan');
}

async function toggleScan() {
  if (state.scanning) {
    stopScan();
    clearStatus($('#claim-status'));
    return;
  }
  let detector;
  try {
    detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  } catch {
    setStatus($('#claim-status'), 'claimui.scan_failed', {}, 'error');
    return;
  }
  state.scanning = true;
  const button = $('#claim-scan');
  button.dataset.i18n = 'claimui.scan_stop';
  button.textContent = tr('claimui.scan_stop');
  setStatus($('#claim-status'), 'claimui.scanning', {}, '');
  const video = $('#kiosk-video');
  const deadline = Date.now() + SCAN_TIMEOUT_MS;
  while (state.scanning && Date.now() < deadline) {
    try {
      const codes = await detector.detect(video);
      const found = codes.map((c) => normaliseClaim(c.rawValue)).find((value) => CLAIM_PATTERN.test(value));
      if (found) {
        $('#claim-input').value = found;
        stopScan();
        sendClaim();
        return;
      }
    } catch {
      // A frame that cannot be analysed yet (video not ready); try the next one.
    }
    await sleep(SCAN_EVERY_MS);
  }
  if (state.scanning) {
    stopScan();
    setStatus($('#claim-status'), 'claimui.scan_timeout', {}, 'error');
  }
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
  $('#camera-start').addEventListener('click', startCamera);
  $('#verify-btn').addEventListener('click', () => verify());
  $('#claim-form').addEventListener('submit', sendClaim);
  $('#claim-scan').addEventListener('click', toggleScan);
  $('#claim-cancel').addEventListener('click', resetResult);
  window.addEventListener('pagehide', () => {
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  });
}

async function main() {
  wire();
  fillSettingsForm();
  applyLanguage();
  if (!settingsComplete()) showSettings(true);
  state.canScan = await detectScanSupport();
  restartAuto();
  document.body.dataset.ready = 'true';
  await startCamera();
}

main();
