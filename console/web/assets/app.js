// The console's shell: header, navigation (#/fund, #/operations, #/risk, #/cluster), sign-in,
// the live feed's state, and the current page. The Fund page is loaded with the shell; the
// others when first opened.
import { html, render, useState, useEffect } from 'preact';
import { getSession, onSession, signInWithWallet, signInWithToken, signOut, short } from 'c/api.js';
import { live } from 'c/live.js';
import { FundPage } from 'c/fund.js';

const PAGES = [
  { path: 'fund', title: 'Fund' },
  { path: 'operations', title: 'Operations', load: () => import('c/ops.js').then((m) => m.OperationsPage) },
  { path: 'risk', title: 'Risk', load: () => import('c/risk.js').then((m) => m.RiskPage) },
  { path: 'cluster', title: 'Cluster', load: () => import('c/cluster.js').then((m) => m.ClusterPage) },
];

function route() { return (location.hash.replace(/^#\/?/, '').split('/')[0]) || 'fund'; }

function useSession() {
  const [s, set] = useState(getSession());
  useEffect(() => onSession(set), []);
  return s;
}

function App() {
  const [page, setPage] = useState(route());
  const [Comp, setComp] = useState(() => FundPage);
  const session = useSession();
  useEffect(() => {
    const on = () => setPage(route());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    const p = PAGES.find((x) => x.path === page) || PAGES[0];
    document.title = p.title + ' · Paimon Edge';
    if (!p.load) { setComp(() => FundPage); return; }
    setComp(null);
    p.load().then((c) => setComp(() => c));
  }, [page]);
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <div class="brand">Paimon Edge</div>
      <nav aria-label="Pages"><ul>
        ${PAGES.map((p) => html`<li><a href=${'#/' + p.path} aria-current=${p.path === page ? 'page' : undefined}>${p.title}</a></li>`)}
      </ul></nav>
      <${LiveState} />
      <${SessionBox} session=${session} />
    </header>
    <main id="main" tabindex="-1">
      ${Comp ? html`<${Comp} key=${page + (session?.token || '')} />` : html`<p class="loading">Loading…</p>`}
    </main>`;
}

function LiveState() {
  const [s, set] = useState(live.state);
  // The socket may have opened between the first render and this effect: read the state again.
  useEffect(() => { set(live.state); return live.onState(set); }, []);
  return html`<div class=${'live ' + s} role="status" aria-live="polite" id="live-state">${s === 'live' ? '● live' : '○ ' + s}</div>`;
}

function SessionBox({ session }) {
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [token, setToken] = useState('');
  const run = (f) => async (e) => {
    e?.preventDefault();
    setErr(null); setBusy(true);
    try { await f(); } catch (x) { setErr(x.message || String(x)); }
    setBusy(false);
  };
  if (session) {
    return html`<div class="session" id="session">
      <span data-role=${session.role}>${session.address ? short(session.address) : session.name} · ${session.role}</span>
      <button type="button" onClick=${run(signOut)} disabled=${busy}>Sign out</button>
    </div>`;
  }
  return html`<div class="session" id="session">
    <button type="button" id="wallet-signin" disabled=${busy || !window.ethereum}
      title=${window.ethereum ? '' : 'No wallet (EIP-1193 provider) in this browser'}
      onClick=${run(() => signInWithWallet(window.ethereum))}>Sign in with wallet</button>
    <form class="token-form" onSubmit=${run(() => signInWithToken(token.trim()))}>
      <label for="api-token" class="sr-only">API token</label>
      <input id="api-token" type="password" autocomplete="off" placeholder="or an API token" value=${token}
        onInput=${(e) => setToken(e.target.value)} />
      <button type="submit" disabled=${busy || !token}>Use token</button>
    </form>
    ${err && html`<p class="note bad" role="alert">${err}</p>`}
  </div>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the placeholder shown until the modules ran
render(html`<${App} />`, root);
