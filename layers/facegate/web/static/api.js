/**
 * JSON-over-HTTP helpers shared by the visitor page and the kiosk.
 *
 * Public API:
 *   request(url, init) -> Promise<ApiResult>
 *   ApiResult = {ok, status, data, code, message, retryAfter}
 *     ok: true for 2xx; data: the parsed JSON body (or null);
 *     code: the API's error code ({error: {code}}), 'network_error' when the request did not complete,
 *           'http_<status>' when an error body had no code; retryAfter: seconds from Retry-After or null.
 */

/** Seconds of a Retry-After header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  const trimmed = String(value).trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** fetch() that never throws: errors become {ok: false, code}. */
export async function request(url, init = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch {
    return { ok: false, status: 0, data: null, code: 'network_error', message: '', retryAfter: null };
  }
  let data = null;
  const text = await response.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  if (response.ok) return { ok: true, status: response.status, data, code: null, message: '', retryAfter };
  const error = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
  const code = typeof error.code === 'string' && error.code ? error.code : `http_${response.status}`;
  const message = typeof error.message === 'string' ? error.message : '';
  return { ok: false, status: response.status, data, code, message, retryAfter };
}
