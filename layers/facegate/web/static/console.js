/**
 * The host and admin console (/console).
 *
 * Login: OAuth 2.0 authorization code + PKCE (S256) against the endpoints of GET /console/config.json (the
 * Cognito hosted UI on AWS, the local stack's /_local/oauth2 locally). Tokens live in sessionStorage (this
 * tab only, gone when it closes); the ID token is renewed with the refresh token two minutes before it
 * expires, and once more on a 401. Every API call sends `Authorization: Bearer <ID token>`.
 *
 * Hosts see the invites of their sites; admins also sites and doors, kiosks (pairing, new key, revoke),
 * hosts and the audit log (filters, CSV export). Secrets the API shows once (door keys, kiosk keys,
 * temporary passwords) are shown once here too and never stored.
 */

import { request } from './api.js';
import { renderLongQR } from './qr.js';
import { applyTranslations, formatDateTime, initialLanguage, saveLanguage, t } from './i18n.js';
import './console-i18n.js';

const SESSION_KEY = 'facegate.console.session';
const PKCE_KEY = 'facegate.console.pkce';
const REFRESH_BEFORE_MS = 120_000;
const RETRY_REFRESH_MS = 30_000;
const PAGE_SIZE = 25;
const INVITE_HOURS = 4;

const $ = (id) => document.getElementById(id);

const state = {
  lang: initialLanguage(),
  config: null,
  session: null,
  refreshTimer: null,
  refreshing: null,
  me: null,
  sites: [],
  siteId: null,
  doors: [],
  view: 'invites',
  inviteNext: null,
  auditNext: null,
  inviteNames: new Map(),
};

// ---------------------------------------------------------------- small helpers

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'className') element.className = value;
    else if (key === 'text') element.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'type' || key === 'for')
      element.setAttribute(key, value === true ? '' : String(value));
    else element[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function show(element, message, kind = '') {
  element.textContent = message;
  element.className = `message${kind ? ` ${kind}` : ''}`;
  element.hidden = !message;
}

function errorText(result) {
  if (result.status === 403) return t(state.lang, 'console.forbidden');
  if (result.code === 'site_retired') return t(state.lang, 'console.site_retired_error');
  const detail = result.message ? `${result.code}: ${result.message}` : result.code;
  return t(state.lang, 'console.error', { code: detail });
}

function when(iso) {
  return iso ? formatDateTime(state.lang, iso) : '';
}

function toIso(localValue) {
  const date = new Date(localValue);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function toLocalInput(date) {
  const pad = (value) => String(value).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function b64url(bytes) {
  let binary = '';
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function readJson(key) {
  try {
    const raw = storage()?.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function writeJson(key, value) {
  try {
    if (value === null) storage()?.removeItem(key);
    else storage()?.setItem(key, JSON.stringify(value));
  } catch {
    // Without storage the session lives in memory only (lost on reload).
  }
}

// ---------------------------------------------------------------- login (code + PKCE) and refresh

async function startLogin() {
  const config = state.config;
  if (!config || config.login !== 'oauth') return;
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(48)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const oauthState = b64url(crypto.getRandomValues(new Uint8Array(24)));
  writeJson(PKCE_KEY, { verifier, state: oauthState });
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    state: oauthState,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    lang: state.lang,
  });
  window.location.assign(`${config.authorize_url}?${query}`);
}

async function tokenRequest(form) {
  return request(state.config.token_url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    credentials: 'omit',
  });
}

/** Keeps the tokens; the expiry is counted on this device's clock from expires_in (seconds), so a device clock
 * that is off does not refresh too late or in a loop (the token's own exp is the fallback). */
function keepTokens(data) {
  const lifetime = Number(data.expires_in);
  const claims = jwtClaims(data.id_token);
  const expiresAt = lifetime > 0 ? Date.now() + lifetime * 1000 : Number(claims.exp || 0) * 1000;
  state.session = {
    id_token: data.id_token,
    refresh_token: data.refresh_token || state.session?.refresh_token || null,
    expires_at: expiresAt,
  };
  writeJson(SESSION_KEY, state.session);
  scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  if (!state.session?.refresh_token) return;
  const delay = Math.max(1000, state.session.expires_at - Date.now() - REFRESH_BEFORE_MS);
  state.refreshTimer = setTimeout(() => refreshTokens().catch(() => {}), delay);
}

/** Renews the ID token once (concurrent callers share the request); true when a fresh token is in place. */
function refreshTokens() {
  if (state.refreshing) return state.refreshing;
  state.refreshing = (async () => {
    const session = state.session;
    const refreshToken = session?.refresh_token;
    if (!refreshToken) return false;
    const result = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: state.config.client_id,
      refresh_token: refreshToken,
    });
    if (state.session !== session) return false; // signed out (or in again) meanwhile: never bring it back
    if (result.ok && result.data?.id_token) {
      keepTokens(result.data);
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || '0') + 1);
      return true;
    }
    if (result.code === 'network_error') {
      clearTimeout(state.refreshTimer);
      state.refreshTimer = setTimeout(() => refreshTokens().catch(() => {}), RETRY_REFRESH_MS);
      return false;
    }
    endSession('console.session_ended');
    return false;
  })();
  return state.refreshing.finally(() => {
    state.refreshing = null;
  });
}

async function finishLogin(params) {
  const saved = readJson(PKCE_KEY);
  writeJson(PKCE_KEY, null);
  window.history.replaceState(null, '', window.location.pathname);
  if (!saved || params.get('state') !== saved.state) return false;
  const result = await tokenRequest({
    grant_type: 'authorization_code',
    client_id: state.config.client_id,
    code: params.get('code'),
    redirect_uri: state.config.redirect_uri,
    code_verifier: saved.verifier,
  });
  if (!result.ok || !result.data?.id_token) return false;
  keepTokens(result.data);
  return true;
}

function endSession(messageKey) {
  clearTimeout(state.refreshTimer);
  state.session = null;
  state.me = null;
  writeJson(SESSION_KEY, null);
  showSignedOut(messageKey);
}

async function signOut() {
  const config = state.config;
  const refreshToken = state.session?.refresh_token;
  endSession(null);
  if (refreshToken && config.revoke_url) {
    await request(config.revoke_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, client_id: config.client_id }).toString(),
      credentials: 'omit',
    });
  }
  const query = new URLSearchParams({ client_id: config.client_id, logout_uri: config.logout_redirect_uri });
  window.location.assign(`${config.logout_url}?${query}`);
}

/** An API call with the ID token; renews it first when it is (nearly) expired, and once more on a 401. */
async function api(method, path, body, { raw = false } = {}) {
  if (!state.session) return { ok: false, status: 401, code: 'unauthorized', message: '', data: null };
  if (state.session.expires_at - Date.now() < 10_000) await refreshTokens();
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!state.session) break;
    const init = { method, headers: { Authorization: `Bearer ${state.session.id_token}` } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (raw) {
      try {
        const response = await fetch(path, { ...init, cache: 'no-store' });
        if (response.status === 401 && attempt === 0 && (await refreshTokens())) continue;
        return { ok: response.ok, status: response.status, response, code: response.ok ? null : `http_${response.status}` };
      } catch {
        return { ok: false, status: 0, code: 'network_error', message: '' };
      }
    }
    const result = await request(path, init);
    if (result.status === 401 && attempt === 0 && (await refreshTokens())) continue;
    return result;
  }
  return { ok: false, status: 401, code: 'unauthorized', message: '', data: null };
}

// ---------------------------------------------------------------- shell

function showSignedOut(messageKey) {
  document.body.dataset.auth = 'signed-out';
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  $('whoami').hidden = true;
  $('logout-btn').hidden = true;
  const configured = state.config?.login === 'oauth';
  $('login-btn').hidden = !configured;
  const key = configured ? messageKey : 'console.login_not_configured';
  show($('login-status'), key ? t(state.lang, key) : '', 'warning');
}

function role() {
  if (state.me?.role) return state.me.role;
  const groups = jwtClaims(state.session?.id_token || '')['cognito:groups'] || [];
  return groups.includes('admins') ? 'admin' : 'host';
}

function renderWhoami() {
  const claims = jwtClaims(state.session?.id_token || '');
  const name = state.me?.name || state.me?.email || claims.name || claims.email || '';
  const roleName = t(state.lang, role() === 'admin' ? 'console.role_admin' : 'console.role_host');
  $('whoami').textContent = t(state.lang, 'console.whoami', { name, role: roleName });
}

async function showSignedIn() {
  document.body.dataset.auth = 'signed-in';
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout-btn').hidden = false;
  const me = await api('GET', '/me');
  if (me.ok) state.me = me.data;
  if (!state.session) return;
  const isAdmin = role() === 'admin';
  document.body.dataset.role = isAdmin ? 'admin' : 'host';
  for (const tab of document.querySelectorAll('.admin-only')) tab.hidden = !isAdmin;
  $('whoami').hidden = false;
  renderWhoami();
  await loadSites();
  switchView(state.view);
}

function switchView(view) {
  if (role() !== 'admin') view = 'invites';
  state.view = view;
  for (const tab of document.querySelectorAll('.nav-tab')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'true');
    else tab.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('.console-view')) section.hidden = section.id !== `view-${view}`;
  $('site-select').closest('.site-picker').hidden = view === 'hosts';
  renderView();
}

async function renderView() {
  if (state.view === 'invites') await loadInvites();
  else if (state.view === 'sites') await renderSitesView();
  else if (state.view === 'terminals') await loadTerminals();
  else if (state.view === 'hosts') await loadHosts();
  else if (state.view === 'audit') await loadAudit();
}

// ---------------------------------------------------------------- sites and doors

async function loadSites() {
  const result = await api('GET', '/sites?limit=100');
  let sites = result.ok ? result.data.items || [] : [];
  if (!result.ok) {
    const ids = state.me?.site_ids || String(jwtClaims(state.session?.id_token || '')['custom:site_ids'] || '').split(',');
    sites = ids.filter(Boolean).map((siteId) => ({ site_id: siteId, name: siteId, retired_at: null }));
  }
  state.sites = sites;
  const select = $('site-select');
  select.replaceChildren(
    ...sites.filter((site) => !site.retired_at).map((site) => el('option', { value: site.site_id, text: site.name })),
  );
  if (!sites.some((site) => site.site_id === state.siteId && !site.retired_at)) {
    state.siteId = sites.find((site) => !site.retired_at)?.site_id || null;
  }
  select.value = state.siteId || '';
  $('no-sites').hidden = Boolean(state.siteId);
  await loadDoors();
}

async function loadDoors() {
  state.doors = [];
  if (state.siteId) {
    const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/doors?limit=100`);
    if (result.ok) state.doors = (result.data.items || []).filter((door) => !door.retired_at);
  }
  for (const id of ['inv-doors', 'terminal-doors']) {
    const container = $(id);
    container.replaceChildren(
      ...state.doors.map((door, index) =>
        el(
          'label',
          { className: 'check-target', for: `${id}-${index}` },
          el('input', { type: 'checkbox', id: `${id}-${index}`, value: door.door_id, checked: state.doors.length === 1 }),
          el('span', { text: door.name }),
        ),
      ),
    );
  }
  const auditDoor = $('audit-door');
  auditDoor.replaceChildren(
    el('option', { value: '', text: t(state.lang, 'console.all_doors') }),
    ...state.doors.map((door) => el('option', { value: door.door_id, text: door.name })),
  );
}

function doorName(doorId) {
  return state.doors.find((door) => door.door_id === doorId)?.name || doorId || '';
}

function checkedValues(containerId) {
  return Array.from($(containerId).querySelectorAll('input[type="checkbox"]:checked'), (input) => input.value);
}

async function renderSitesView() {
  const isAdmin = role() === 'admin';
  const list = $('site-list');
  list.replaceChildren(
    ...state.sites.map((site) => {
      const levelId = `level-${site.site_id}`;
      const item = el(
        'li',
        { className: 'item', 'data-site-id': site.site_id },
        el(
          'div',
          { className: 'item-main' },
          el('strong', { text: site.name }),
          el('span', { className: 'muted small', text: ` ${site.timezone || ''}` }),
          site.retired_at ? el('span', { className: 'badge', 'data-status': 'erased', text: t(state.lang, 'console.retired') }) : null,
        ),
      );
      if (isAdmin && !site.retired_at) {
        const select = el(
          'select',
          { id: levelId, className: 'text-input' },
          el('option', { value: 'standard', text: t(state.lang, 'level.standard') }),
          el('option', { value: 'high', text: t(state.lang, 'level.high') }),
        );
        select.value = site.security_level || 'standard';
        const save = el('button', { type: 'button', className: 'button secondary small', text: t(state.lang, 'console.save_level') });
        save.addEventListener('click', () => saveLevel(site, select.value));
        const retire = el('button', { type: 'button', className: 'button danger-outline small', text: t(state.lang, 'console.site_retire') });
        retire.addEventListener('click', () => retireSite(site));
        item.append(
          el(
            'div',
            { className: 'item-actions' },
            el('label', { for: levelId, className: 'visually-hidden', text: t(state.lang, 'console.level_of', { name: site.name }) }),
            select,
            save,
            retire,
          ),
        );
      }
      return item;
    }),
  );
  renderDoorList();
}

function renderDoorList() {
  const list = $('door-list');
  if (!state.doors.length) {
    list.replaceChildren(el('li', { className: 'item muted', text: t(state.lang, 'console.empty') }));
    return;
  }
  list.replaceChildren(
    ...state.doors.map((door) => {
      const retire = el('button', { type: 'button', className: 'button danger-outline small', text: t(state.lang, 'console.door_retire') });
      retire.addEventListener('click', () => retireDoor(door));
      return el(
        'li',
        { className: 'item', 'data-door-id': door.door_id },
        el('div', { className: 'item-main' }, el('strong', { text: door.name }), el('span', { className: 'muted small', text: ` ${door.door_id}` })),
        el('div', { className: 'item-actions' }, retire),
      );
    }),
  );
}

async function saveLevel(site, level) {
  const result = await api('PATCH', `/sites/${encodeURIComponent(site.site_id)}`, { security_level: level });
  const levelName = t(state.lang, `level.${level}`);
  show($('site-status'), result.ok ? t(state.lang, 'console.site_level_saved', { name: site.name, level: levelName }) : errorText(result), result.ok ? '' : 'error');
  if (result.ok) site.security_level = level;
}

async function retireSite(site) {
  if (!window.confirm(t(state.lang, 'console.confirm_retire_site', { name: site.name }))) return;
  const result = await api('DELETE', `/sites/${encodeURIComponent(site.site_id)}`);
  if (!result.ok) show($('site-status'), errorText(result), 'error');
  await loadSites();
  await renderSitesView();
}

async function retireDoor(door) {
  if (!window.confirm(t(state.lang, 'console.confirm_retire_door', { name: door.name }))) return;
  const result = await api('DELETE', `/sites/${encodeURIComponent(state.siteId)}/doors/${encodeURIComponent(door.door_id)}`);
  if (!result.ok) show($('door-status'), errorText(result), 'error');
  await loadDoors();
  renderDoorList();
}

async function createSite(event) {
  event.preventDefault();
  const name = $('site-name').value.trim();
  if (!name) return show($('site-status'), t(state.lang, 'console.need_name'), 'error');
  const body = { name, timezone: $('site-tz').value.trim() || 'UTC', security_level: $('site-level').value };
  const result = await api('POST', '/sites', body);
  if (!result.ok) return show($('site-status'), errorText(result), 'error');
  show($('site-status'), t(state.lang, 'console.site_created', { name }));
  $('site-name').value = '';
  state.siteId = result.data.site_id;
  await loadSites();
  await renderSitesView();
}

async function createDoor(event) {
  event.preventDefault();
  const name = $('door-name').value.trim();
  if (!name || !state.siteId) return show($('door-status'), t(state.lang, 'console.need_name'), 'error');
  const result = await api('POST', `/sites/${encodeURIComponent(state.siteId)}/doors`, { name });
  if (!result.ok) return show($('door-status'), errorText(result), 'error');
  show($('door-status'), t(state.lang, 'console.door_created', { name }));
  $('door-name').value = '';
  $('door-secret-key').textContent = result.data.unlock_key;
  $('door-secret').hidden = false;
  $('door-secret').focus();
  await loadDoors();
  renderDoorList();
}

// ---------------------------------------------------------------- invites

function setInviteDefaults() {
  const start = new Date();
  start.setSeconds(0, 0);
  $('inv-from').value = toLocalInput(start);
  $('inv-until').value = toLocalInput(new Date(start.getTime() + INVITE_HOURS * 3600_000));
}

async function loadInvites(more = false) {
  const list = $('invite-list');
  if (!state.siteId) {
    list.replaceChildren();
    return;
  }
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const status = $('inv-filter').value;
  if (status) query.set('status', status);
  if (more && state.inviteNext) query.set('next_token', state.inviteNext);
  const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/invites?${query}`);
  if (!result.ok) {
    list.replaceChildren(el('li', { className: 'item message error', text: errorText(result) }));
    return;
  }
  rememberInviteNames(result.data.items || []);
  const items = (result.data.items || []).map(inviteItem);
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  if (!list.children.length) list.append(el('li', { className: 'item muted', text: t(state.lang, 'console.empty') }));
  state.inviteNext = result.data.next_token || null;
  $('invite-more').hidden = !state.inviteNext;
  document.body.dataset.invitesLoaded = String(Date.now());
}

function rememberInviteNames(invites) {
  for (const invite of invites) if (invite.display_name) state.inviteNames.set(invite.invite_id, invite.display_name);
}

/** Visitor names for the audit view (the audit log keeps invite ids only). */
async function loadInviteNames() {
  const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/invites?limit=100`);
  if (result.ok) rememberInviteNames(result.data.items || []);
}

function inviteItem(invite) {
  const name = invite.display_name || t(state.lang, 'console.unnamed');
  const doors = (invite.door_ids || []).map(doorName).join(', ');
  const actions = el('div', { className: 'item-actions' });
  if (!['erased', 'expired'].includes(invite.status)) {
    const linkButton = el('button', { type: 'button', className: 'button secondary small', text: t(state.lang, 'console.show_link') });
    linkButton.addEventListener('click', () => showInviteLink(invite.invite_id));
    const erase = el('button', { type: 'button', className: 'button danger-outline small', text: t(state.lang, 'console.cancel_invite') });
    erase.addEventListener('click', () => eraseInvite(invite, name));
    actions.append(linkButton);
    if (invite.email) {
      const resend = el('button', { type: 'button', className: 'button secondary small', text: t(state.lang, 'console.resend_mail') });
      resend.addEventListener('click', () => resendInviteMail(invite, resend));
      actions.append(resend);
    }
    actions.append(erase);
  }
  const meta = [`${when(invite.valid_from)} – ${when(invite.valid_until)}`];
  if (doors) meta.push(doors);
  if (invite.created_by_name) meta.push(t(state.lang, 'console.invite_by', { name: invite.created_by_name }));
  if (invite.arrived_at) meta.push(t(state.lang, 'console.arrived_at', { time: when(invite.arrived_at) }));
  return el(
    'li',
    { className: 'item', 'data-invite-id': invite.invite_id, 'data-status': invite.status },
    el(
      'div',
      { className: 'item-main' },
      el('strong', { className: 'invite-name', text: name }),
      el('span', { className: 'badge', 'data-status': invite.status, text: t(state.lang, `status.${invite.status}`) }),
      invite.email ? el('span', { className: 'muted small', text: ` ${invite.email}` }) : null,
      el('p', { className: 'muted small item-meta', text: meta.join(' · ') }),
    ),
    actions,
  );
}

async function createInvite(event) {
  event.preventDefault();
  const status = $('invite-status');
  const name = $('inv-name').value.trim();
  const doors = checkedValues('inv-doors');
  const from = toIso($('inv-from').value);
  const until = toIso($('inv-until').value);
  if (!name) return show(status, t(state.lang, 'console.need_name'), 'error');
  if (!doors.length) return show(status, t(state.lang, 'console.need_door'), 'error');
  if (!from || !until || until <= from) return show(status, t(state.lang, 'console.need_window'), 'error');
  const body = { door_ids: doors, valid_from: from, valid_until: until, display_name: name };
  const email = $('inv-email').value.trim();
  if (email) body.email = email;
  if ($('inv-notify').checked) body.notify_on_arrival = true;
  $('invite-send').disabled = true;
  const result = await api('POST', `/sites/${encodeURIComponent(state.siteId)}/invites`, body);
  $('invite-send').disabled = false;
  if (!result.ok) return show(status, errorText(result), 'error');
  show(status, t(state.lang, 'console.invite_created', { name }));
  $('inv-name').value = '';
  $('inv-email').value = '';
  $('inv-notify').checked = false;
  setInviteDefaults();
  await renderInviteLink({ ...result.data, display_name: name });
  await loadInvites();
}

async function resendInviteMail(invite, button) {
  button.disabled = true;
  const result = await api('POST', `/invites/${encodeURIComponent(invite.invite_id)}/email`);
  button.disabled = false;
  if (!result.ok) return show($('invite-status'), errorText(result), 'error');
  show($('invite-status'), t(state.lang, 'console.mail_resent', { email: invite.email }));
}

async function showInviteLink(inviteId) {
  const result = await api('GET', `/invites/${encodeURIComponent(inviteId)}`);
  if (!result.ok) return show($('invite-status'), errorText(result), 'error');
  await renderInviteLink(result.data);
}

async function renderInviteLink(invite) {
  const url = invite.registration_url;
  const link = $('invite-link-url');
  link.href = url;
  link.textContent = url;
  $('invite-link-who').textContent = t(state.lang, 'console.link_for', {
    name: invite.display_name || t(state.lang, 'console.unnamed'),
    from: when(invite.valid_from),
    until: when(invite.valid_until),
  });
  $('invite-link-copied').textContent = '';
  $('invite-link').hidden = false;
  await drawQr($('invite-link-qr'), url);
  $('invite-link').focus();
}

async function eraseInvite(invite, name) {
  if (!window.confirm(t(state.lang, 'console.confirm_erase', { name }))) return;
  const result = await api('DELETE', `/invites/${encodeURIComponent(invite.invite_id)}`);
  show($('invite-status'), result.ok ? t(state.lang, 'console.erased', { name }) : errorText(result), result.ok ? '' : 'error');
  await loadInvites();
}

async function copyLink() {
  const url = $('invite-link-url').href;
  try {
    await navigator.clipboard.writeText(url);
    $('invite-link-copied').textContent = t(state.lang, 'console.copied');
  } catch {
    $('invite-link-copied').textContent = t(state.lang, 'console.copy_failed');
  }
}

// ---------------------------------------------------------------- QR codes

/** Draws `text` as a QR code (qrcode-generator, vendored by `make web-vendor`); hides the canvas without it. */
async function drawQr(canvas, text) {
  delete canvas.dataset.text;
  try {
    await renderLongQR(canvas, text);
  } catch {
    canvas.hidden = true;
    return;
  }
  canvas.dataset.text = text;
  canvas.hidden = false;
}

// ---------------------------------------------------------------- kiosks

async function loadTerminals() {
  const list = $('terminal-list');
  if (!state.siteId) return list.replaceChildren();
  const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/terminals?limit=100`);
  if (!result.ok) return list.replaceChildren(el('li', { className: 'item message error', text: errorText(result) }));
  const items = result.data.items || [];
  if (!items.length) return list.replaceChildren(el('li', { className: 'item muted', text: t(state.lang, 'console.empty') }));
  list.replaceChildren(
    ...items.map((terminal) => {
      const facts = [(terminal.door_ids || []).map(doorName).join(', ')];
      if (terminal.revoked_at) facts.push(t(state.lang, 'console.revoked_at', { time: when(terminal.revoked_at) }));
      else if (terminal.paired_at) facts.push(t(state.lang, 'console.paired_at', { time: when(terminal.paired_at) }));
      else facts.push(t(state.lang, 'console.not_paired'));
      const actions = el('div', { className: 'item-actions' });
      if (!terminal.revoked_at) {
        const pair = el('button', { type: 'button', className: 'button primary small', text: t(state.lang, 'console.pair') });
        pair.addEventListener('click', () => pairTerminal(terminal));
        const rotate = el('button', { type: 'button', className: 'button secondary small', text: t(state.lang, 'console.rotate') });
        rotate.addEventListener('click', () => rotateTerminal(terminal));
        const revoke = el('button', { type: 'button', className: 'button danger-outline small', text: t(state.lang, 'console.revoke') });
        revoke.addEventListener('click', () => revokeTerminal(terminal));
        actions.append(pair, rotate, revoke);
      }
      return el(
        'li',
        { className: 'item', 'data-terminal-id': terminal.terminal_id },
        el('div', { className: 'item-main' }, el('strong', { text: terminal.name }), el('p', { className: 'muted small item-meta', text: facts.join(' · ') })),
        actions,
      );
    }),
  );
}

async function createTerminal(event) {
  event.preventDefault();
  const name = $('terminal-name').value.trim();
  const doors = checkedValues('terminal-doors');
  if (!name) return show($('terminal-status'), t(state.lang, 'console.need_name'), 'error');
  if (!doors.length) return show($('terminal-status'), t(state.lang, 'console.need_door'), 'error');
  const result = await api('POST', `/sites/${encodeURIComponent(state.siteId)}/terminals`, { name, door_ids: doors });
  if (!result.ok) return show($('terminal-status'), errorText(result), 'error');
  show($('terminal-status'), t(state.lang, 'console.terminal_created', { name }));
  $('terminal-name').value = '';
  await loadTerminals();
}

async function pairTerminal(terminal) {
  const path = `/sites/${encodeURIComponent(state.siteId)}/terminals/${encodeURIComponent(terminal.terminal_id)}/pairing`;
  const result = await api('POST', path);
  if (!result.ok) return show($('terminal-status'), errorText(result), 'error');
  const pairing = result.data;
  $('pairing-for').textContent = t(state.lang, 'console.pair_for', { name: terminal.name });
  $('pairing-code').textContent = pairing.pairing_code;
  const link = $('pairing-url');
  link.href = pairing.pairing_url;
  link.textContent = pairing.pairing_url;
  $('pairing-expires').textContent = t(state.lang, 'console.pair_expires', { time: when(pairing.expires_at) });
  $('pairing').hidden = false;
  $('terminal-secret').hidden = true;
  await drawQr($('pairing-qr'), pairing.pairing_url);
  $('pairing').focus();
}

async function rotateTerminal(terminal) {
  if (!window.confirm(t(state.lang, 'console.confirm_rotate', { name: terminal.name }))) return;
  const path = `/sites/${encodeURIComponent(state.siteId)}/terminals/${encodeURIComponent(terminal.terminal_id)}/rotate`;
  const result = await api('POST', path);
  if (!result.ok) return show($('terminal-status'), errorText(result), 'error');
  $('terminal-secret-key-id').textContent = result.data.key_id;
  $('terminal-secret-value').textContent = result.data.secret;
  $('pairing').hidden = true;
  $('terminal-secret').hidden = false;
  $('terminal-secret').focus();
  await loadTerminals();
}

async function revokeTerminal(terminal) {
  if (!window.confirm(t(state.lang, 'console.confirm_revoke', { name: terminal.name }))) return;
  const result = await api('DELETE', `/terminals/${encodeURIComponent(terminal.terminal_id)}`);
  if (!result.ok) show($('terminal-status'), errorText(result), 'error');
  await loadTerminals();
}

// ---------------------------------------------------------------- hosts

async function loadHosts() {
  const sites = $('host-sites');
  sites.replaceChildren(
    ...state.sites
      .filter((site) => !site.retired_at)
      .map((site, index) =>
        el(
          'label',
          { className: 'check-target', for: `host-site-${index}` },
          el('input', { type: 'checkbox', id: `host-site-${index}`, value: site.site_id, checked: site.site_id === state.siteId }),
          el('span', { text: site.name }),
        ),
      ),
  );
  const list = $('host-list');
  const result = await api('GET', '/hosts?limit=100');
  if (!result.ok) return list.replaceChildren(el('li', { className: 'item message error', text: errorText(result) }));
  const items = result.data.items || [];
  if (!items.length) return list.replaceChildren(el('li', { className: 'item muted', text: t(state.lang, 'console.empty') }));
  const siteName = (siteId) => state.sites.find((site) => site.site_id === siteId)?.name || siteId;
  list.replaceChildren(
    ...items.map((host) => {
      const actions = el('div', { className: 'item-actions' });
      if (host.enabled) {
        const disable = el('button', { type: 'button', className: 'button danger-outline small', text: t(state.lang, 'console.host_disable') });
        disable.addEventListener('click', () => disableHost(host));
        actions.append(disable);
      }
      return el(
        'li',
        { className: 'item', 'data-username': host.username },
        el(
          'div',
          { className: 'item-main' },
          el('strong', { text: host.name || host.email }),
          el('span', { className: 'muted small', text: ` ${host.email}` }),
          host.enabled ? null : el('span', { className: 'badge', 'data-status': 'erased', text: t(state.lang, 'console.disabled') }),
          el('p', { className: 'muted small item-meta', text: (host.site_ids || []).map(siteName).join(', ') }),
        ),
        actions,
      );
    }),
  );
}

async function createHost(event) {
  event.preventDefault();
  const email = $('host-email').value.trim();
  const name = $('host-name').value.trim();
  const siteIds = checkedValues('host-sites');
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return show($('host-status'), t(state.lang, 'console.need_email'), 'error');
  if (!name) return show($('host-status'), t(state.lang, 'console.need_name'), 'error');
  if (!siteIds.length) return show($('host-status'), t(state.lang, 'console.need_site'), 'error');
  const result = await api('POST', '/hosts', { email, name, site_ids: siteIds });
  if (!result.ok) return show($('host-status'), errorText(result), 'error');
  show($('host-status'), t(state.lang, 'console.host_created', { name }));
  $('host-email').value = '';
  $('host-name').value = '';
  $('host-secret-value').textContent = result.data.temporary_password || '';
  $('host-secret').hidden = !result.data.temporary_password;
  if (result.data.temporary_password) $('host-secret').focus();
  await loadHosts();
}

async function disableHost(host) {
  if (!window.confirm(t(state.lang, 'console.confirm_disable', { name: host.name || host.email }))) return;
  const result = await api('DELETE', `/hosts/${encodeURIComponent(host.username)}`);
  if (!result.ok) show($('host-status'), errorText(result), 'error');
  await loadHosts();
}

// ---------------------------------------------------------------- audit

function auditQuery() {
  const query = new URLSearchParams();
  const fields = { door_id: $('audit-door').value, decision: $('audit-decision').value, event: $('audit-event').value };
  for (const [key, value] of Object.entries(fields)) if (value) query.set(key, value);
  const from = $('audit-from').value ? toIso($('audit-from').value) : null;
  const to = $('audit-to').value ? toIso($('audit-to').value) : null;
  if (from) query.set('from', from);
  if (to) query.set('to', to);
  return query;
}

async function loadAudit(more = false) {
  const rows = $('audit-rows');
  if (!state.siteId) return rows.replaceChildren();
  const query = auditQuery();
  query.set('limit', '50');
  if (more && state.auditNext) query.set('next_token', state.auditNext);
  if (!more) await loadInviteNames();
  const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/audit?${query}`);
  if (!result.ok) {
    show($('audit-status'), errorText(result), 'error');
    return;
  }
  show($('audit-status'), '');
  const items = (result.data.items || []).map((item) => {
    const visitor = item.visitor_name || state.inviteNames.get(item.visitor_id) || item.visitor_id;
    const detail = [item.reason, item.mode, visitor].filter(Boolean).join(' · ');
    const decision = item.decision ? t(state.lang, `decision.${item.decision}`) : '';
    const label = (key) => t(state.lang, `console.col_${key}`);
    const badge = decision
      ? el('span', { className: 'badge', 'data-status': item.decision === 'grant' ? 'arrived' : 'erased', text: decision })
      : '';
    return el(
      'tr',
      { 'data-event': item.event, 'data-decision': item.decision || '' },
      el('td', { 'data-label': label('time'), text: when(item.at) }),
      el('td', { 'data-label': label('event'), text: item.event }),
      el('td', { 'data-label': label('decision') }, badge),
      el('td', { 'data-label': label('door'), text: doorName(item.door_id) }),
      el('td', { 'data-label': label('who'), text: item.actor_name || item.actor || '' }),
      el('td', { 'data-label': label('detail'), text: detail }),
    );
  });
  if (more) rows.append(...items);
  else rows.replaceChildren(...items);
  state.auditNext = result.data.next_token || null;
  $('audit-more').hidden = !state.auditNext;
  document.body.dataset.auditLoaded = String(Date.now());
}

async function exportCsv() {
  const query = auditQuery();
  const result = await api('GET', `/sites/${encodeURIComponent(state.siteId)}/audit/csv?${query}`, undefined, { raw: true });
  if (!result.ok) return show($('audit-status'), errorText(result), 'error');
  const blob = await result.response.blob();
  const url = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().slice(0, 10);
  const anchor = el('a', { href: url, download: `facegate-audit-${state.siteId}-${stamp}.csv` });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  show($('audit-status'), t(state.lang, 'console.csv_done'));
}

// ---------------------------------------------------------------- start

function applyLanguage() {
  applyTranslations(state.lang);
  document.title = `facegate ${t(state.lang, 'console.title')}`;
  if (document.body.dataset.auth === 'signed-in') {
    renderWhoami();
    loadDoors().then(renderView);
  } else if (document.body.dataset.auth === 'signed-out') {
    const status = $('login-status');
    if (!status.hidden && state.config?.login !== 'oauth') show(status, t(state.lang, 'console.login_not_configured'), 'warning');
  }
}

function wire() {
  $('lang-switch').addEventListener('click', () => {
    state.lang = state.lang === 'ko' ? 'en' : 'ko';
    saveLanguage(state.lang);
    applyLanguage();
  });
  $('login-btn').addEventListener('click', () => startLogin());
  $('logout-btn').addEventListener('click', () => signOut());
  for (const tab of document.querySelectorAll('.nav-tab')) tab.addEventListener('click', () => switchView(tab.dataset.view));
  $('site-select').addEventListener('change', async (event) => {
    state.siteId = event.target.value;
    await loadDoors();
    await renderView();
  });
  $('invite-form').addEventListener('submit', createInvite);
  $('inv-filter').addEventListener('change', () => loadInvites());
  $('inv-refresh').addEventListener('click', () => loadInvites());
  $('invite-more').addEventListener('click', () => loadInvites(true));
  $('invite-link-copy').addEventListener('click', copyLink);
  $('invite-link-close').addEventListener('click', () => {
    $('invite-link').hidden = true;
  });
  $('site-form').addEventListener('submit', createSite);
  $('door-form').addEventListener('submit', createDoor);
  $('terminal-form').addEventListener('submit', createTerminal);
  $('pairing-close').addEventListener('click', () => {
    $('pairing').hidden = true;
    loadTerminals();
  });
  $('host-form').addEventListener('submit', createHost);
  // the panels that show a secret once: closing one hides it and forgets the secret it showed
  for (const [panel, secret] of [
    ['door-secret', 'door-secret-key'],
    ['terminal-secret', 'terminal-secret-value'],
    ['host-secret', 'host-secret-value'],
  ]) {
    $(`${panel}-close`).addEventListener('click', () => {
      $(panel).hidden = true;
      $(secret).textContent = '';
    });
  }
  $('audit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadAudit();
  });
  $('audit-more').addEventListener('click', () => loadAudit(true));
  $('audit-csv').addEventListener('click', exportCsv);
}

async function main() {
  applyTranslations(state.lang);
  document.title = `facegate ${t(state.lang, 'console.title')}`;
  wire();
  setInviteDefaults();
  const configResult = await request('/console/config.json');
  state.config = configResult.ok ? configResult.data : { login: 'none' };
  const params = new URLSearchParams(window.location.search);
  let messageKey = null;
  if (params.has('code') && state.config.login === 'oauth') {
    if (!(await finishLogin(params))) messageKey = 'console.login_failed';
  } else if (params.has('error')) {
    window.history.replaceState(null, '', window.location.pathname);
    messageKey = 'console.login_failed';
  } else {
    state.session = readJson(SESSION_KEY);
    if (state.session && state.session.expires_at - Date.now() < REFRESH_BEFORE_MS) {
      if (!(await refreshTokens())) state.session = null;
    } else if (state.session) {
      scheduleRefresh();
    }
  }
  if (state.session) await showSignedIn();
  else showSignedOut(messageKey);
  document.body.dataset.ready = 'true';
}

main();
