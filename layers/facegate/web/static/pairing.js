/**
 * Kiosk pairing: the console shows a single-use pairing code (and its URL `<origin>/kiosk?pair=CODE` as a QR
 * code); the kiosk sends the code to POST /pair and keeps the credentials it gets back, so nobody types ids
 * or secrets.
 *
 * Public API:
 *   normalisePairingCode(value) -> string        trimmed, inner spaces removed.
 *   validPairingCode(code) -> boolean            4-64 letters, digits, '-' or '_'.
 *   pairingCodeFrom(text, origin) -> string|null the code of a pairing URL of this origin (a scanned QR or the
 *                                                page's own address), else null.
 *   pairKiosk(code, apiBase = '') -> Promise<{ok, settings, code, status, retryAfter}>
 *       settings: {apiUrl, doorId, keyId, secret, terminalId, doorIds, pairedAt} for the kiosk's settings.
 */

import { request } from './api.js';

const CODE_PATTERN = /^[A-Za-z0-9_-]{4,64}$/;

export function normalisePairingCode(value) {
  return String(value || '')
    .trim()
    .replace(/\s+/g, '');
}

export function validPairingCode(code) {
  return CODE_PATTERN.test(code);
}

export function pairingCodeFrom(text, origin) {
  if (!text || typeof text !== 'string' || !text.includes('pair=')) return null;
  let url;
  try {
    url = new URL(text, origin);
  } catch {
    return null;
  }
  if (url.origin !== origin || !/\/kiosk\/?$/.test(url.pathname)) return null;
  const code = normalisePairingCode(url.searchParams.get('pair'));
  return validPairingCode(code) ? code : null;
}

export async function pairKiosk(code, apiBase = '') {
  const base = (apiBase || window.location.origin).replace(/\/+$/, '');
  const result = await request(`${base}/pair`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ pairing_code: code }),
  });
  if (!result.ok || !result.data || !result.data.key_id || !result.data.secret) {
    return { ok: false, settings: null, code: result.code || 'pairing_failed', status: result.status, retryAfter: result.retryAfter };
  }
  const data = result.data;
  const doorIds = Array.isArray(data.door_ids) ? data.door_ids : [];
  const apiUrl = data.api_url && data.api_url.replace(/\/+$/, '') !== window.location.origin ? data.api_url.replace(/\/+$/, '') : '';
  return {
    ok: true,
    code: null,
    status: result.status,
    retryAfter: null,
    settings: {
      apiUrl,
      doorId: doorIds[0] || '',
      keyId: data.key_id,
      secret: data.secret,
      terminalId: data.terminal_id || '',
      doorIds,
      pairedAt: new Date().toISOString(),
    },
  };
}
