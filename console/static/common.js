// Shared helpers for the console's pages. Plain JS, no build step.
// Story data is untrusted wire copy: it only ever reaches the page as text
// (textContent, or text nodes), never as markup; links from it must be http(s).
'use strict';

const WS = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function data() {
    const el = document.getElementById('page-data');
    return el ? JSON.parse(el.textContent) : {};
  }

  // h('a', {class: 'x', href: '/y'}, 'text', child): attributes never carry markup;
  // string children become text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    const kids = children.flat().filter((c) => c !== null && c !== undefined && c !== false);
    if (kids.length === 1 && typeof kids[0] !== 'object') el.textContent = String(kids[0]);
    else for (const kid of kids) el.append(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    return el;
  }

  function setText(el, value) {
    el.textContent = value === null || value === undefined ? '' : String(value);
    return el;
  }

  function safeUrl(value) {
    try {
      const url = new URL(String(value));
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : '';
    } catch (e) {
      return '';
    }
  }

  function storyHref(id) {
    return '/stories/' + encodeURIComponent(id);
  }

  async function api(method, url, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf();
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(url, opts);
    } catch (e) {
      return { ok: false, status: 0, data: { error: 'the console is not answering' } };
    }
    let payload = {};
    try { payload = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401) {
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    }
    return { ok: res.ok, status: res.status, data: payload };
  }

  let toastTimer = null;
  function toast(message, kind) {
    const el = document.getElementById('toast');
    if (!el) return;
    setText(el, message);
    el.className = 'toast ' + (kind || 'info');
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 6000 : 3500);
  }

  function pct(score) {
    return score === null || score === undefined ? '—' : Math.round(score * 100) + '%';
  }

  function bar(score) {
    const fill = h('span', { class: 'fill' });
    fill.style.width = (score === null || score === undefined ? 0 : Math.round(score * 100)) + '%';
    const level = score === null || score === undefined ? 'none' : score < 0.4 ? 'low' : score < 0.6 ? 'mid' : 'high';
    return h('span', { class: 'meter ' + level, title: pct(score) }, fill);
  }

  function ago(iso) {
    const t = Date.parse(iso || '');
    if (Number.isNaN(t)) return '';
    const s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 60) return 'just now';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function clock(iso) {
    const t = new Date(iso || '');
    if (Number.isNaN(t.getTime())) return '';
    return t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  function tags(record) {
    const out = [];
    if (record.humanitarian) out.push(h('span', { class: 'tag tag-hum' }, 'humanitarian'));
    if (record.military) out.push(h('span', { class: 'tag tag-mil' }, 'military'));
    return out;
  }

  // A live stream; handlers by event name. "resync" means we fell behind: reload.
  function events(url, handlers) {
    const live = document.getElementById('live');
    const source = new EventSource(url);
    source.onopen = () => live && live.classList.add('on');
    source.onerror = () => live && live.classList.remove('on');
    source.addEventListener('resync', () => { source.close(); location.reload(); });
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => fn(JSON.parse(e.data)));
    }
    window.addEventListener('pagehide', () => source.close());
    return source;
  }

  function setWaiting(n) {
    for (const id of ['nav-waiting', 'waiting']) {
      const el = document.getElementById(id);
      if (el) setText(el, n);
    }
  }

  function typing(event) {
    const t = event.target;
    return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
  }

  return { data, h, setText, safeUrl, storyHref, api, toast, pct, bar, ago, clock, tags, events, setWaiting, typing, csrf };
})();
