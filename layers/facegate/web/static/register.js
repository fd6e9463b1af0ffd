/**
 * Visitor pre-registration page (served at /register/<token>).
 *
 * Flow: GET status -> notice + consent -> guided burst of 3 selfies (or picked files) -> POST selfie ->
 * claim code (QR + text); "delete my data" at any step. The camera is never touched before consent.
 *
 * Stable hooks for tests and the end-to-end flow (do not rename):
 *   body[data-view]        loading | notice | capture | enrolled | erased | expired | invalid | error
 *   #lang-switch           toggles Korean/English (html[lang] follows)
 *   #view-<name>           one section per view
 *   notice:   #notice-site #notice-window #notice-data #notice-not-stored #notice-purpose #notice-retention
 *             #notice-controller #notice-rights (.fact[data-shown]) #notice-full-text-only #notice-text #notice-version
 *             #notice-refusal #notice-third-parties #notice-biometric (the API's summary.{en,ko})
 *             #consent-checkbox #consent-biometric (both required: PIPA's separate consent to biometric data)
 *             #phone-handoff #handoff-qr (on a computer: this page's link as a QR code for the phone)
 *             #consent-submit #consent-error
 *   capture:  #camera-start #camera-message #camera-area[data-step] #camera-video #face-guide
 *             #step-label #step-prompt #shutter-btn #countdown-toggle #countdown
 *             #use-files-btn #file-fallback #file-pick-btn #file-input
 *             #thumbs > li.thumb[data-slot=0..4][data-filled] with img and button[data-testid=retake-1..5]
 *             (slots 3-4 are optional: li.optional, shown once added; button[data-testid=remove-4|5])
 *             #add-photo #add-photo-btn (an optional 4th and 5th photo, once the three are taken)
 *             #send-btn #restart-btn #capture-result[data-code]
 *   enrolled: #claim-qr (canvas, data-code) #claim-code #claim-hint #claim-brightness #claim-missing #enrolled-window
 *   delete:   #delete-section #delete-btn #delete-confirm #delete-confirm-btn #delete-cancel-btn #delete-error
 *   erased:   #receipt #receipt-erased-at (time[datetime]) #receipt-items
 *   expired:  #view-expired[data-code] #expired-heading #expired-text
 *   error:    #load-error[data-code] #retry-load
 */

import { applyTranslations, formatDateTime, hasString, initialLanguage, localized, saveLanguage, t } from './i18n.js';
import { request } from './api.js';
import { fileToJpeg, frameToJpeg, playStream } from './imaging.js';
import { renderLongQR, renderQR } from './qr.js';

const MAX_SIDE_PX = 720;
const JPEG_QUALITY = 0.9;
// Three selfies, in camera and file mode alike. Five let more visitors in by face alone at mid-size doors
// (0.75 vs 0.63 at N = 10, scripts/measure_selfie_count.py): the page offers an optional fourth and fifth
// once the three are taken (the selfie route takes 1-5).
const SHOTS = 3;
const MAX_SHOTS = 5;
const COUNTDOWN_SECONDS = 3;
const VIEWS = ['loading', 'notice', 'capture', 'enrolled', 'erased', 'expired', 'invalid', 'error'];
const VIEWS_WITH_DELETE = new Set(['notice', 'capture', 'enrolled']);

const $ = (selector) => document.querySelector(selector);

const state = {
  lang: initialLanguage(),
  token: tokenFromPath(window.location.pathname),
  view: 'loading',
  status: null,
  notice: null,
  shots: new Array(SHOTS).fill(null),
  stream: null,
  fileMode: false,
  fileTargetSlot: null,
  idempotencyKey: null,
  busy: false,
  claimCode: null,
  receipt: null,
  expiredCode: 'invite_expired',
};

const tr = (key, vars) => t(state.lang, key, vars);
const apiBase = () => `/register/${encodeURIComponent(state.token)}`;

/** The invite token from /register/<token>[/], or null. */
function tokenFromPath(pathname) {
  const match = /^\/register\/([A-Za-z0-9_-]+)\/?$/.exec(pathname);
  return match ? match[1] : null;
}

function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---- messages that follow the language switch ------------------------------------------------

/** Shows the strings [[key, vars], ...] in `element` and remembers them for re-translation. */
function say(element, parts, code = '') {
  element.dataset.msg = JSON.stringify(parts);
  element.dataset.code = code;
  element.textContent = parts.map(([key, vars]) => tr(key, vars)).join(' ');
  element.hidden = false;
}

function unsay(element) {
  delete element.dataset.msg;
  element.dataset.code = '';
  element.textContent = '';
  element.hidden = true;
}

function retranslateMessages() {
  for (const element of document.querySelectorAll('[data-msg]')) {
    const parts = JSON.parse(element.dataset.msg);
    element.textContent = parts.map(([key, vars]) => tr(key, vars)).join(' ');
  }
}

/** The [key, vars] that explains an API error code to a visitor. */
function errorMessage(result) {
  const { code, retryAfter } = result;
  if (code === 'network_error') return ['error.network', {}];
  if (code === 'rate_limited') {
    return retryAfter ? ['error.rate_limited', { seconds: retryAfter }] : ['error.rate_limited_short', {}];
  }
  if (hasString(`error.${code}`)) return [`error.${code}`, {}];
  if (result.status === 503) return ['error.service_unavailable', {}];
  if (result.status >= 500) return ['error.internal_error', {}];
  return ['error.unknown', { code }];
}

// ---- views ----------------------------------------------------------------------------------------

function showView(name, { focus = true } = {}) {
  if (state.view === 'capture' && name !== 'capture') stopCamera();
  state.view = name;
  document.body.dataset.view = name;
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  const deletable = VIEWS_WITH_DELETE.has(name);
  $('#delete-section').hidden = !deletable;
  if (!deletable) hideDeleteConfirm();
  if (focus) {
    const heading = $(`#view-${name} h2`);
    if (heading) heading.focus({ preventScroll: false });
  }
}

function handleFatal(result) {
  if (result.status === 410 && result.code === 'invite_erased') return showErasedFromStatus();
  if (result.status === 410) return showExpired(result.code);
  if (result.status === 401 || result.status === 404) return showView('invalid');
  const element = $('#load-error');
  say(element, [errorMessage(result)], result.code);
  return showView('error');
}

async function load() {
  showView('loading', { focus: false });
  if (!state.token) return showView('invalid');
  const result = await request(`${apiBase()}/status`);
  if (!result.ok) return handleFatal(result);
  return applyStatus(result.data || {});
}

async function applyStatus(status) {
  state.status = status;
  switch (status.status) {
    case 'invited':
      return loadNotice();
    case 'consented':
      return showCapture();
    case 'enrolled':
      return showEnrolled(status.claim_code || null);
    case 'reenroll_required':
      showCapture();
      return say($('#capture-result'), [['capture.reenroll', {}]], 'reenroll_required');
    case 'erased':
      return showErased(receiptFromStatus(status));
    case 'expired':
      return showExpired('invite_expired');
    default:
      return handleFatal({ ok: false, status: 0, code: `status_${status.status}` });
  }
}

function showExpired(code) {
  state.expiredCode = code === 'invite_revoked' ? 'invite_revoked' : 'invite_expired';
  renderExpired();
  showView('expired');
}

function renderExpired() {
  const revoked = state.expiredCode === 'invite_revoked';
  $('#view-expired').dataset.code = state.expiredCode;
  $('#expired-heading').textContent = tr(revoked ? 'revoked.heading' : 'expired.heading');
  $('#expired-text').textContent = tr(revoked ? 'revoked.text' : 'expired.text');
}

// ---- notice and consent ---------------------------------------------------------------------------

/** A computer (fine pointer, wide screen): the selfies are better taken on a phone, so offer this page's
 * link as a QR code (qrcode-generator, vendored; any length). Phones never see it. */
async function showPhoneHandoff() {
  const panel = $('#phone-handoff');
  if (!window.matchMedia('(pointer: fine) and (min-width: 900px)').matches) {
    panel.hidden = true;
    return;
  }
  const link = `${window.location.origin}${window.location.pathname}`;
  try {
    const canvas = $('#handoff-qr');
    await renderLongQR(canvas, link);
    canvas.dataset.text = link;
    canvas.setAttribute('aria-label', tr('handoff.qr_label'));
    panel.hidden = false;
  } catch {
    panel.hidden = true;
  }
}

async function loadNotice(messageKey = null) {
  const result = await request(`${apiBase()}/notice`);
  if (!result.ok) return handleFatal(result);
  state.notice = result.data || {};
  renderNotice();
  const checkbox = $('#consent-checkbox');
  checkbox.checked = false;
  $('#consent-biometric').checked = false;
  $('#consent-submit').disabled = true;
  if (messageKey) say($('#consent-error'), [[messageKey, {}]], messageKey);
  else unsay($('#consent-error'));
  showPhoneHandoff();
  return showView('notice');
}

/** True when a server value carries per-language text ({en, ko} objects) rather than plain English. */
function isLocalized(value) {
  if (Array.isArray(value)) return value.length > 0 && value.every(isLocalized);
  return Boolean(value) && typeof value === 'object' && state.lang in value;
}

/**
 * Fills `element` with a server value: a list when it is an array, text otherwise. The row is hidden when
 * the value is empty, or when it is plain (English) text on a non-English page and not `neutral`
 * (names and dates read the same in any language); the full notice text covers it in that language.
 */
function fillValue(element, value, { neutral = false } = {}) {
  const text = localized(state.lang, value);
  element.replaceChildren();
  const isEmpty = Array.isArray(text) ? text.length === 0 : !text;
  const readable = neutral || state.lang === 'en' || isLocalized(value);
  element.closest('.fact').hidden = isEmpty || !readable;
  element.closest('.fact').dataset.shown = String(!isEmpty && readable);
  if (Array.isArray(text)) {
    const list = document.createElement('ul');
    list.className = 'plain-list';
    for (const item of text.flat(Infinity)) {
      const li = document.createElement('li');
      li.textContent = item;
      list.append(li);
    }
    element.append(list);
  } else {
    element.textContent = text;
  }
}

/** Consent needs both boxes: the notice, and separately the biometric data. */
function consentGiven() {
  return $('#consent-checkbox').checked && $('#consent-biometric').checked;
}

/** One notice item in every language the API's `summary` carries ({en, ko}), else the plain field. */
function summaryItem(notice, key, fallback) {
  const summary = notice.summary;
  if (!summary || typeof summary !== 'object') return fallback;
  const value = {};
  for (const [lang, items] of Object.entries(summary)) {
    if (items && items[key] !== undefined) value[lang] = items[key];
  }
  return Object.keys(value).length ? value : fallback;
}

function renderNotice() {
  const notice = state.notice;
  if (!notice) return;
  fillValue($('#notice-site'), notice.site_name, { neutral: true });
  const from = notice.valid_from || state.status?.valid_from;
  const until = notice.valid_until || state.status?.valid_until;
  fillValue(
    $('#notice-window'),
    from && until ? tr('notice.window_value', { from: formatDateTime(state.lang, from), until: formatDateTime(state.lang, until) }) : '',
    { neutral: true },
  );
  fillValue($('#notice-data'), summaryItem(notice, 'items', notice.data_stored));
  fillValue($('#notice-not-stored'), summaryItem(notice, 'not_stored', notice.not_stored));
  fillValue($('#notice-purpose'), summaryItem(notice, 'purpose', notice.purpose));
  fillValue($('#notice-retention'), summaryItem(notice, 'retention', notice.retention));
  fillValue($('#notice-controller'), summaryItem(notice, 'controller', notice.controller));
  fillValue($('#notice-rights'), summaryItem(notice, 'rights', notice.rights));
  fillValue($('#notice-refusal'), summaryItem(notice, 'refusal', ''));
  fillValue($('#notice-third-parties'), summaryItem(notice, 'third_parties', ''));
  fillValue($('#notice-biometric'), summaryItem(notice, 'biometric_consent', ''));
  const summaryRows = [
    '#notice-data', '#notice-not-stored', '#notice-purpose', '#notice-retention', '#notice-controller', '#notice-rights',
    '#notice-refusal', '#notice-third-parties', '#notice-biometric',
  ];
  $('#notice-full-text-only').hidden = summaryRows.some((id) => !$(id).closest('.fact').hidden);

  const container = $('#notice-text');
  container.replaceChildren();
  const text = notice.text ? localized(state.lang, notice.text) : '';
  for (const paragraph of String(text).split(/\n\s*\n/)) {
    if (!paragraph.trim()) continue;
    const p = document.createElement('p');
    p.textContent = paragraph.trim();
    container.append(p);
  }
  $('#notice-version').textContent = notice.consent_version ? tr('notice.version', { version: notice.consent_version }) : '';
}

async function submitConsent(event) {
  event.preventDefault();
  if (state.busy || !consentGiven() || !state.notice) return;
  state.busy = true;
  const button = $('#consent-submit');
  button.disabled = true;
  say($('#status-live'), [['consent.saving', {}]]);
  const result = await request(`${apiBase()}/consent`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ consent_version: state.notice.consent_version, accepted: true, biometric: true }),
  });
  state.busy = false;
  unsay($('#status-live'));
  if (result.ok) {
    state.status = { ...(state.status || {}), status: 'consented', consent_version: state.notice.consent_version };
    return showCapture();
  }
  if (result.code === 'consent_version_mismatch') return loadNotice('consent.version_changed');
  if (result.status === 410 || result.status === 401 || result.status === 404) return handleFatal(result);
  button.disabled = !consentGiven();
  return say($('#consent-error'), [errorMessage(result)], result.code);
}

// ---- capture --------------------------------------------------------------------------------------

function showCapture() {
  const hasCamera = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  $('#camera-start').hidden = !hasCamera || Boolean(state.stream);
  if (!hasCamera) {
    say($('#camera-message'), [['camera.unavailable', {}]], 'no_camera');
    enableFileMode();
  }
  unsay($('#capture-result'));
  renderCapture();
  showView('capture');
}

async function startCamera() {
  const button = $('#camera-start');
  button.disabled = true;
  button.textContent = tr('capture.starting');
  unsay($('#camera-message'));
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 960 } },
      audio: false,
    });
  } catch (error) {
    const name = error && error.name;
    const key =
      name === 'NotAllowedError' || name === 'SecurityError'
        ? 'camera.denied'
        : name === 'NotReadableError' || name === 'AbortError'
          ? 'camera.in_use'
          : 'camera.unavailable';
    say($('#camera-message'), [[key, {}]], name || 'error');
    button.disabled = false;
    button.textContent = tr('capture.start');
    enableFileMode();
    return;
  }
  if (state.view !== 'capture') {
    stopCamera();
    return;
  }
  await playStream($('#camera-video'), state.stream);
  button.hidden = true;
  button.disabled = false;
  button.textContent = tr('capture.start');
  $('#camera-area').hidden = false;
  $('#capture-controls').hidden = false;
  renderCapture();
  $('#shutter-btn').focus();
}

function stopCamera() {
  if (state.stream) {
    for (const track of state.stream.getTracks()) track.stop();
  }
  state.stream = null;
  const video = $('#camera-video');
  video.srcObject = null;
  $('#camera-area').hidden = true;
  $('#capture-controls').hidden = true;
  $('#camera-start').hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

function enableFileMode() {
  state.fileMode = true;
  $('#file-fallback').hidden = false;
  $('#use-files-btn').hidden = true;
  renderCapture();
}

function nextEmptySlot() {
  return state.shots.findIndex((shot) => shot === null);
}

function filledCount() {
  return state.shots.filter(Boolean).length;
}

/** How many of the three required slots hold a photo. */
function requiredFilled() {
  return state.shots.slice(0, SHOTS).filter(Boolean).length;
}

/** Opens an optional slot (the fourth, then the fifth) and points the camera or the file picker at it. */
function addOptionalSlot() {
  if (state.busy || state.shots.length >= MAX_SHOTS || nextEmptySlot() !== -1) return;
  state.shots.push(null);
  state.idempotencyKey = null;
  unsay($('#capture-result'));
  renderCapture();
  if (state.stream) {
    $('#shutter-btn').focus();
  } else if (state.fileMode) {
    state.fileTargetSlot = state.shots.length - 1;
    $('#file-input').click();
  } else {
    $('#camera-start').focus();
  }
}

/** Drops optional slot `slot` (and its photo); later optional photos move up. */
function removeOptionalSlot(slot) {
  if (state.busy || slot < SHOTS || slot >= state.shots.length) return;
  setShot(slot, null);
  state.shots.splice(slot, 1);
  unsay($('#capture-result'));
  renderCapture();
  $('#send-btn').focus();
}

function renderCapture() {
  const next = nextEmptySlot();
  const step = next === -1 ? state.shots.length : next + 1;
  $('#camera-area').dataset.step = String(next === -1 ? 0 : step);
  $('#step-label').textContent = next === -1 ? '' : tr(step > SHOTS ? 'capture.step_optional' : 'capture.step', { n: step });
  $('#step-prompt').textContent = next === -1 ? tr('capture.all_taken') : tr(`capture.step_${step}`);
  $('#shutter-btn').disabled = next === -1 || state.busy;

  for (const item of document.querySelectorAll('#thumbs .thumb')) {
    const slot = Number(item.dataset.slot);
    const shot = state.shots[slot];
    const image = item.querySelector('img');
    const empty = item.querySelector('.thumb-empty');
    const retake = item.querySelector('.retake');
    const remove = item.querySelector('.remove');
    item.hidden = slot >= state.shots.length;
    if (remove) {
      remove.hidden = item.hidden;
      remove.textContent = tr('capture.remove');
      remove.setAttribute('aria-label', tr('capture.remove_label', { n: slot + 1 }));
      remove.disabled = state.busy;
    }
    item.dataset.filled = shot ? 'true' : 'false';
    image.hidden = !shot;
    if (shot) {
      image.src = shot.url;
      image.alt = tr('capture.thumb_alt', { n: slot + 1 });
    } else {
      image.removeAttribute('src');
      image.alt = '';
    }
    empty.hidden = Boolean(shot);
    empty.textContent = tr('capture.slot_empty', { n: slot + 1 });
    retake.hidden = !shot;
    retake.textContent = tr('capture.retake');
    retake.setAttribute('aria-label', tr('capture.retake_label', { n: slot + 1 }));
    retake.disabled = state.busy;
  }
  const filled = filledCount();
  const required = requiredFilled();
  // the same rule in camera and file mode: the three required photos, plus any optional ones taken
  $('#send-btn').disabled = state.busy || required < SHOTS;
  $('#add-photo').hidden = required < SHOTS || next !== -1 || state.shots.length >= MAX_SHOTS;
  $('#add-photo-btn').disabled = state.busy;
  if (state.fileMode && filled > 0 && required < SHOTS) {
    say($('#capture-result'), [['capture.files_need_more', { n: required }]], 'need_more');
  } else if ($('#capture-result').dataset.code === 'need_more') {
    unsay($('#capture-result'));
  }
  $('#restart-btn').hidden = filled === 0;
  $('#restart-btn').disabled = state.busy;
}

function setShot(slot, blob) {
  const previous = state.shots[slot];
  if (previous) URL.revokeObjectURL(previous.url);
  state.shots[slot] = blob ? { blob, url: URL.createObjectURL(blob) } : null;
  state.idempotencyKey = null;
}

function clearShots() {
  for (let slot = 0; slot < state.shots.length; slot++) setShot(slot, null);
  state.shots = new Array(SHOTS).fill(null);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function shoot() {
  const slot = nextEmptySlot();
  if (slot === -1 || state.busy || !state.stream) return;
  state.busy = true;
  renderCapture();
  const countdown = $('#countdown');
  if ($('#countdown-toggle').checked) {
    countdown.hidden = false;
    for (let n = COUNTDOWN_SECONDS; n > 0; n--) {
      countdown.textContent = String(n);
      countdown.setAttribute('aria-label', tr('capture.countdown_label', { n }));
      await sleep(1000);
    }
    countdown.hidden = true;
  }
  try {
    if (state.stream) setShot(slot, await frameToJpeg($('#camera-video'), MAX_SIDE_PX, JPEG_QUALITY));
  } catch {
    say($('#camera-message'), [['camera.unavailable', {}]], 'capture_failed');
  }
  state.busy = false;
  unsay($('#capture-result'));
  renderCapture();
  const focusTarget = nextEmptySlot() === -1 ? $('#send-btn') : $('#shutter-btn');
  if (!focusTarget.disabled) focusTarget.focus();
}

function retake(slot) {
  if (state.busy) return;
  setShot(slot, null);
  unsay($('#capture-result'));
  renderCapture();
  if (state.stream) {
    $('#shutter-btn').focus();
  } else if (state.fileMode) {
    state.fileTargetSlot = slot;
    $('#file-input').click();
  }
}

function restart() {
  if (state.busy) return;
  clearShots();
  unsay($('#capture-result'));
  renderCapture();
  if (state.stream) $('#shutter-btn').focus();
}

async function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  let slots = [];
  if (state.fileTargetSlot !== null && state.shots[state.fileTargetSlot] === null) slots.push(state.fileTargetSlot);
  state.fileTargetSlot = null;
  for (let slot = 0; slot < state.shots.length; slot++) if (state.shots[slot] === null && !slots.includes(slot)) slots.push(slot);
  if (!slots.length) {
    clearShots();
    slots = [0, 1, 2];
  }
  // more files than empty slots: the extra ones fill optional slots, up to five photos in all
  while (files.length > slots.length && state.shots.length < MAX_SHOTS) {
    state.shots.push(null);
    slots.push(state.shots.length - 1);
  }
  const available = slots.length;
  state.busy = true;
  renderCapture();
  const messages = [];
  for (const file of files.slice(0, slots.length)) {
    try {
      setShot(slots.shift(), await fileToJpeg(file, MAX_SIDE_PX, JPEG_QUALITY));
    } catch {
      if (!messages.some(([key]) => key === 'capture.file_unreadable')) messages.push(['capture.file_unreadable', {}]);
    }
  }
  if (files.length > available) messages.push(['capture.files_extra', {}]);
  state.busy = false;
  if (messages.length) say($('#camera-message'), messages, 'files');
  unsay($('#capture-result'));
  renderCapture();
}

async function sendPhotos() {
  const shots = state.shots.filter(Boolean);
  if (state.busy || !shots.length) return;
  state.busy = true;
  state.idempotencyKey = state.idempotencyKey || newIdempotencyKey();
  renderCapture();
  say($('#capture-result'), [['capture.sending', {}]], 'sending');
  $('#capture-result').classList.remove('error', 'success');
  const form = new FormData();
  shots.forEach((shot, index) => form.append('image', shot.blob, `selfie-${index + 1}.jpg`));
  const result = await request(`${apiBase()}/selfie`, {
    method: 'POST',
    headers: { 'Idempotency-Key': state.idempotencyKey },
    body: form,
  });
  state.busy = false;
  if (result.ok && result.data && result.data.status === 'enrolled') {
    clearShots();
    state.status = { ...(state.status || {}), status: 'enrolled', enrolled_at: result.data.enrolled_at };
    unsay($('#capture-result'));
    return showEnrolled(result.data.claim_code || null);
  }
  if (result.code === 'consent_required') return loadNotice('error.consent_required');
  if (result.code === 'consent_version_mismatch') return loadNotice('consent.version_changed');
  if (result.status === 410 || result.status === 401 || result.status === 404) return handleFatal(result);
  if (result.code === 'idempotency_conflict') state.idempotencyKey = null;
  const box = $('#capture-result');
  say(box, [errorMessage(result)], result.code);
  box.classList.add('error');
  renderCapture();
  if (result.status === 429 && result.retryAfter) {
    $('#send-btn').disabled = true;
    setTimeout(renderCapture, result.retryAfter * 1000);
  }
  return undefined;
}

// ---- enrolled, delete, erased ---------------------------------------------------------------------

function showEnrolled(claimCode) {
  state.claimCode = claimCode;
  renderEnrolled();
  showView('enrolled');
  say($('#status-live'), [['result.enrolled', {}]]);
}

function renderEnrolled() {
  const canvas = $('#claim-qr');
  const code = state.claimCode;
  canvas.hidden = !code;
  $('#claim-code').textContent = code || '';
  $('#claim-code').closest('.claim-code-row').hidden = !code;
  $('#claim-hint').hidden = !code;
  $('#claim-brightness').hidden = !code;
  $('#claim-missing').hidden = Boolean(code);
  if (code) {
    if (canvas.dataset.code !== code) renderQR(canvas, code, { scale: 12, quiet: 4 });
    canvas.dataset.code = code;
    canvas.setAttribute('aria-label', tr('claim.qr_label', { code }));
  }
  const from = state.status?.valid_from || state.notice?.valid_from;
  const until = state.status?.valid_until || state.notice?.valid_until;
  $('#enrolled-window').textContent =
    from && until ? tr('enrolled.window', { from: formatDateTime(state.lang, from), until: formatDateTime(state.lang, until) }) : '';
}

function showDeleteConfirm() {
  $('#delete-confirm').hidden = false;
  $('#delete-btn').setAttribute('aria-expanded', 'true');
  $('#delete-cancel-btn').focus();
}

function hideDeleteConfirm() {
  $('#delete-confirm').hidden = true;
  $('#delete-btn').setAttribute('aria-expanded', 'false');
}

async function deleteData() {
  if (state.busy) return;
  state.busy = true;
  const confirmButton = $('#delete-confirm-btn');
  confirmButton.disabled = true;
  confirmButton.textContent = tr('delete.deleting');
  const result = await request(apiBase(), { method: 'DELETE' });
  state.busy = false;
  confirmButton.disabled = false;
  confirmButton.textContent = tr('delete.confirm');
  if (result.ok) {
    clearShots();
    unsay($('#delete-error'));
    return showErased(result.data || {});
  }
  if (result.status === 410 || result.status === 401 || result.status === 404) return handleFatal(result);
  return say($('#delete-error'), [errorMessage(result)], result.code);
}

function showErased(receipt) {
  state.receipt = receipt;
  state.claimCode = null;
  renderReceipt();
  showView('erased');
  // the live region must not keep announcing "You are registered" once the data is gone
  say($('#status-live'), [['result.erased', {}]]);
}

/** The erasure receipt that `GET …/status` returns with status `erased` (null when it has none). */
function receiptFromStatus(status) {
  if (!status || !status.erased_at) return null;
  return { erased_at: status.erased_at, items: Array.isArray(status.erased_items) ? status.erased_items : [] };
}

/** The link was ended by the visitor's own erasure: show the erased view with the receipt from status. */
async function showErasedFromStatus() {
  showErased(null);
  const result = await request(`${apiBase()}/status`);
  if (result.ok && result.data && result.data.status === 'erased') {
    state.status = result.data;
    state.receipt = receiptFromStatus(result.data);
    renderReceipt();
  }
}

function renderReceipt() {
  const receipt = state.receipt;
  $('#receipt').hidden = !receipt;
  if (!receipt) return;
  const time = $('#receipt-erased-at');
  time.dateTime = receipt.erased_at || '';
  time.textContent = formatDateTime(state.lang, receipt.erased_at);
  const list = $('#receipt-items');
  list.replaceChildren();
  let items = receipt.items;
  if (typeof items === 'number') items = [String(items)];
  if (!Array.isArray(items) || items.length === 0) items = [null];
  for (const item of items) {
    const li = document.createElement('li');
    const name = item && typeof item === 'object' ? item.kind || item.type || item.name || JSON.stringify(item) : item;
    li.dataset.item = name === null ? '' : String(name);
    if (name === null) li.textContent = tr('erased.items_none');
    else li.textContent = hasString(`item.${name}`) ? tr(`item.${name}`) : String(name);
    list.append(li);
  }
}

// ---- language -------------------------------------------------------------------------------------

function applyLanguage() {
  applyTranslations(state.lang);
  $('#lang-switch').lang = state.lang === 'ko' ? 'en' : 'ko';
  retranslateMessages();
  renderNotice();
  renderCapture();
  if (state.claimCode || state.view === 'enrolled') renderEnrolled();
  renderReceipt();
  renderExpired();
}

function toggleLanguage() {
  state.lang = state.lang === 'ko' ? 'en' : 'ko';
  saveLanguage(state.lang);
  applyLanguage();
}

// ---- wiring ---------------------------------------------------------------------------------------

/** The photo slots of #thumbs, one per photo the page can send: the SHOTS required ones, then the optional
 * ones (li.optional, hidden until added, with a remove button). renderCapture fills them in. */
function buildThumbs() {
  for (let slot = 0; slot < MAX_SHOTS; slot++) {
    const item = document.createElement('li');
    item.className = slot < SHOTS ? 'thumb' : 'thumb optional';
    item.dataset.slot = String(slot);
    item.hidden = slot >= SHOTS;
    const image = document.createElement('img');
    image.alt = '';
    image.hidden = true;
    const empty = document.createElement('span');
    empty.className = 'thumb-empty';
    item.append(image, empty, slotButton('retake', slot));
    if (slot >= SHOTS) item.append(slotButton('remove', slot));
    $('#thumbs').append(item);
  }
}

/** A slot's hidden `kind` button (retake | remove), data-testid `<kind>-<photo number>`. */
function slotButton(kind, slot) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `button secondary small ${kind}`;
  button.dataset.slot = String(slot);
  button.dataset.testid = `${kind}-${slot + 1}`;
  button.hidden = true;
  return button;
}

/** A click handler that runs `action`, then moves the keyboard focus to `selector` (the panel it opened or closed). */
function thenFocus(action, selector) {
  return () => {
    action();
    $(selector).focus();
  };
}

function wire() {
  const clicks = {
    '#lang-switch': toggleLanguage,
    '#camera-start': startCamera,
    '#shutter-btn': shoot,
    '#use-files-btn': thenFocus(enableFileMode, '#file-pick-btn'),
    '#file-pick-btn': () => $('#file-input').click(),
    '#add-photo-btn': addOptionalSlot,
    '#restart-btn': restart,
    '#send-btn': sendPhotos,
    '#delete-btn': showDeleteConfirm,
    '#delete-cancel-btn': thenFocus(hideDeleteConfirm, '#delete-btn'),
    '#delete-confirm-btn': deleteData,
    '#retry-load': load,
  };
  for (const [selector, handler] of Object.entries(clicks)) $(selector).addEventListener('click', handler);
  for (const box of ['#consent-checkbox', '#consent-biometric']) {
    $(box).addEventListener('change', () => {
      $('#consent-submit').disabled = !consentGiven() || state.busy;
    });
  }
  $('#consent-form').addEventListener('submit', submitConsent);
  $('#file-input').addEventListener('change', async (event) => {
    await addFiles(event.target.files);
    event.target.value = '';
  });
  $('#thumbs').addEventListener('click', (event) => {
    const button = event.target.closest('.retake');
    if (button) retake(Number(button.dataset.slot));
    const remove = event.target.closest('.remove');
    if (remove) removeOptionalSlot(Number(remove.dataset.slot));
  });
  window.addEventListener('pagehide', stopCamera);
}

buildThumbs();
wire();
applyLanguage();
load();
