// The API client: requests with the session's token, the session itself (wallet sign-in
// through an EIP-1193 provider, or a static API token), and the formatting of the API's
// figures (amounts are base-unit integers with 18 decimals, ratios basis points).

const KEY = 'paimon.console.session';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || 'HTTP ' + status);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// session: {token, role, address?, name?, kind: 'wallet' | 'token'}; kept for the tab only.
let session = null;
try { session = JSON.parse(sessionStorage.getItem(KEY)); } catch { session = null; }
const listeners = new Set();

export function getSession() { return session; }
export function onSession(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s)); else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn(s);
}

const ranks = { none: 0, viewer: 1, operator: 2, approver: 3, admin: 4 };
// can says whether the session's role reaches role (the API enforces it anyway).
export function can(role) { return !!session && (ranks[session.role] || 0) >= ranks[role]; }

export async function api(path, { method = 'GET', body, raw = false } = {}) {
  const headers = {};
  if (session) headers.Authorization = 'Bearer ' + session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let e = {};
    try { e = (await r.json()).error || {}; } catch { /* not JSON */ }
    if (r.status === 401 && session && e.code === 'AUTH_INVALID') setSession(null); // expired or logged out
    throw new ApiError(r.status, e.code, e.message, e.details);
  }
  return raw ? r : r.json();
}

// signInWithToken keeps a static API token after checking it.
export async function signInWithToken(token) {
  const r = await fetch('/v1/auth/me', { headers: { Authorization: 'Bearer ' + token } });
  const me = await r.json();
  if (!r.ok) throw new ApiError(r.status, me.error?.code, me.error?.message);
  setSession({ token, role: me.role, name: me.name, address: me.address, kind: me.address ? 'wallet' : 'token' });
}

// signInWithWallet runs the login flow: the wallet's address, a nonce for it, the wallet's
// personal_sign of the node's message, the session.
export async function signInWithWallet(provider) {
  const [address] = await provider.request({ method: 'eth_requestAccounts' });
  if (!address) throw new Error('the wallet gave no account');
  const addr = address.toLowerCase();
  const n = await api('/v1/auth/nonce', { method: 'POST', body: { address: addr } });
  const signature = await provider.request({ method: 'personal_sign', params: [utf8Hex(n.message), addr] });
  const s = await api('/v1/auth/login', { method: 'POST', body: { address: addr, signature, nonce: n.nonce } });
  setSession({ token: s.token, role: s.role, address: addr, expiresAt: s.expiresAt, kind: 'wallet' });
}

export async function signOut() {
  if (session?.kind === 'wallet') {
    try { await api('/v1/auth/logout', { method: 'POST' }); } catch { /* the session is gone either way */ }
  }
  setSession(null);
}

function utf8Hex(s) {
  return '0x' + Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, '0')).join('');
}

// decisionTypedData is the EIP-712 typed data of a ticket decision (server/approvals_sig.go).
export function decisionTypedData(ticketId, decision, reason, chainId) {
  return {
    types: {
      EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }],
      ApprovalDecision: [{ name: 'ticketId', type: 'string' }, { name: 'decision', type: 'string' },
        { name: 'reason', type: 'string' }, { name: 'chainId', type: 'uint256' }],
    },
    primaryType: 'ApprovalDecision',
    domain: { name: 'Paimon Edge', version: '1', chainId },
    message: { ticketId, decision, reason, chainId },
  };
}

// --- formatting ---

const E18 = 10n ** 18n;

// amount formats base units (18 decimals) with thousands separators, truncated to dp decimals.
export function amount(s, dp = 2) {
  if (s === null || s === undefined || s === '') return '—';
  let v = BigInt(s);
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = (v / E18).toLocaleString('en-US');
  let out = whole;
  if (dp > 0) out += '.' + ((v % E18) * 10n ** BigInt(dp) / E18).toString().padStart(dp, '0');
  return (neg ? '-' : '') + out;
}

// price formats a 1e18-scaled price with up to 6 decimals.
export function price(s) { return amount(s, 6); }

// bps formats basis points as a percentage with two decimals.
export function bps(n) {
  if (n === null || n === undefined) return '—';
  return (Number(n) / 100).toFixed(2) + ' %';
}

export function time(s) {
  if (!s) return '—';
  return s.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
}

export function short(addr) { return addr ? addr.slice(0, 6) + '…' + addr.slice(-4) : '—'; }

// duration formats seconds as "2d 3h", "4h 05m", "12m 09s".
export function duration(sec) {
  const neg = sec < 0;
  sec = Math.abs(Math.floor(sec));
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  const p = (x) => String(x).padStart(2, '0');
  const out = d ? `${d}d ${h}h` : h ? `${h}h ${p(m)}m` : `${m}m ${p(s)}s`;
  return neg ? '-' + out : out;
}
