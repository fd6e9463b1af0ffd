/**
 * Door-terminal request signing with WebCrypto (docs/api.md, "Request signature").
 *
 * Public API:
 *   buildMultipart(parts, boundary?) -> {body: Uint8Array, contentType}
 *       parts: [{name, filename, contentType, bytes: Uint8Array}] — the exact bytes that are sent and hashed.
 *   sha256Hex(bytes) -> Promise<string>                       lowercase hex SHA-256.
 *   hmacSha256Hex(secret, message) -> Promise<string>        lowercase hex HMAC-SHA256, secret as UTF-8.
 *   randomNonce(bytes = 16) -> string                        2*bytes lowercase hex characters.
 *   stringToSign({method, path, timestamp, nonce, bodyHash, claim, challenge}) -> string
 *       lines METHOD, PATH, TIMESTAMP, NONCE, BODY HASH, then CLAIM and "challenge=" + CHALLENGE when given.
 *   signedHeaders({secret, keyId, method, path, body, claim, challenge, now}) -> Promise<{[header]: value}>
 *       X-Facegate-Key-Id, -Timestamp (unix seconds), -Nonce, -Signature and, when given, -Claim and -Challenge.
 */

const encoder = new TextEncoder();

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function randomNonce(bytes = 16) {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function buildMultipart(parts, boundary = `----facegate${randomNonce(12)}`) {
  const chunks = [];
  for (const part of parts) {
    const filename = part.filename ? `; filename="${part.filename.replace(/["\r\n]/g, '_')}"` : '';
    const head =
      `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${part.name}"${filename}\r\n` +
      `Content-Type: ${part.contentType || 'application/octet-stream'}\r\n\r\n`;
    chunks.push(encoder.encode(head), part.bytes, encoder.encode('\r\n'));
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  const body = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function sha256Hex(bytes) {
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

export async function hmacSha256Hex(secret, message) {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return toHex(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
}

export function stringToSign({ method, path, timestamp, nonce, bodyHash, claim, challenge }) {
  const lines = [method.toUpperCase(), path, String(timestamp), nonce, bodyHash];
  if (claim !== undefined && claim !== null) lines.push(claim);
  if (challenge !== undefined && challenge !== null) lines.push(`challenge=${challenge}`);
  return lines.join('\n');
}

export async function signedHeaders({
  secret,
  keyId,
  method,
  path,
  body,
  claim = null,
  challenge = null,
  now = Date.now(),
}) {
  const timestamp = Math.floor(now / 1000);
  const nonce = randomNonce(16);
  const bodyHash = await sha256Hex(body);
  const message = stringToSign({ method, path, timestamp, nonce, bodyHash, claim, challenge });
  const signature = await hmacSha256Hex(secret, message);
  const headers = {
    'X-Facegate-Key-Id': keyId,
    'X-Facegate-Timestamp': String(timestamp),
    'X-Facegate-Nonce': nonce,
    'X-Facegate-Signature': signature,
  };
  if (claim !== null && claim !== undefined) headers['X-Facegate-Claim'] = claim;
  if (challenge !== null && challenge !== undefined) headers['X-Facegate-Challenge'] = challenge;
  return headers;
}
