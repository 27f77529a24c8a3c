// Entry point: picks the page from the path, loads the checks, follows live events.
import { CheckStore } from './store.js';
import { overview } from './overview.js';
import { checkPage } from './check.js';
import { nodesPage } from './nodes.js';
import { statusPage } from './status.js';
import { clusterPanel } from './cluster.js';
import { hideTip } from './util.js';

const main = document.getElementById('main');
const path = location.pathname.replace(/\/+$/, '') || '/';
const page = path === '/' ? 'overview' : path.startsWith('/checks/') ? 'check' : path === '/nodes' ? 'nodes' : path === '/status' ? 'status' : 'overview';
for (const a of document.querySelectorAll('[data-nav]')) {
  if (a.dataset.nav === page || (page === 'check' && a.dataset.nav === 'overview')) a.setAttribute('aria-current', 'page');
}
window.addEventListener('scroll', hideTip, { passive: true });

async function start() {
  if (page === 'nodes') { await nodesPage(main); return; }
  // The public page reads only its own server-filtered endpoints, never the check list.
  if (page === 'status') { await statusPage(main); return; }
  const store = new CheckStore();
  store.follow();
  if (page === 'overview') { overview(main, store); clusterPanel(main); }
  await store.load();
  if (page === 'check') {
    let name = '';
    try { name = decodeURIComponent(path.slice('/checks/'.length)); } catch { name = path.slice('/checks/'.length); }
    await checkPage(main, store, name);
  }
  document.documentElement.dataset.ready = '1';
}

start().then(() => { document.documentElement.dataset.ready = '1'; });
