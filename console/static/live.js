// Alerts and the classified feed: the first page comes with the HTML as JSON,
// newer stories arrive over server-sent events. Story data is set as text only.
'use strict';

(() => {
  const { h, setText } = WS;
  const D = WS.data();
  const page = document.body.dataset.page;
  const list = document.getElementById('items');
  const none = document.getElementById('none');

  function link(el, it) {
    el.setAttribute('href', WS.storyHref(it.id));
    setText(el, it.headline || it.id);
  }

  function alertEl(it) {
    const li = document.getElementById('tpl-alert').content.firstElementChild.cloneNode(true);
    const q = (sel) => li.querySelector(sel);
    setText(q('.time'), WS.clock(it.classified_at) + '  ·  ' + WS.ago(it.classified_at));
    q('.rules').replaceChildren(...(it.alert_rules || []).map((r) => h('span', { class: 'chip rule' }, r)));
    link(q('.headline'), it);
    setText(q('.lang'), it.language || '?');
    setText(q('.topic'), it.topic || '—');
    setText(q('.stance'), it.stance || '—');
    q('.tags').replaceChildren(...WS.tags(it));
    setText(q('.source'), it.source || '');
    setText(q('.lede'), it.lede);
    return li;
  }

  function rowEl(it) {
    const tr = document.getElementById('tpl-row').content.firstElementChild.cloneNode(true);
    const q = (sel) => tr.querySelector(sel);
    setText(q('.time'), WS.clock(it.classified_at));
    setText(q('.lang'), it.language || '?');
    link(q('.headline'), it);
    q('.topic').replaceChildren(h('span', {}, it.topic || '—'), ' ', h('span', { class: 'muted' }, WS.pct(it.topic_score)));
    q('.stance').replaceChildren(h('span', {}, it.stance || '—'), ' ', h('span', { class: 'muted' }, WS.pct(it.stance_score)));
    q('.focus').replaceChildren(h('span', { class: 'focus-' + (it.focus || 'none') }, it.focus || 'none'));
    setText(q('.model'), it.model_version || '');
    return tr;
  }

  const make = page === 'alerts' ? alertEl : rowEl;

  function add(it, fresh) {
    for (const el of list.children) if (el.dataset.id === it.id) el.remove();
    const el = make(it);
    el.dataset.id = it.id;
    if (fresh) el.classList.add('fresh');
    list.prepend(el);
    while (list.children.length > D.limit) list.lastElementChild.remove();
    none.hidden = list.children.length > 0;
  }

  for (const it of D.items.slice().reverse()) add(it, false);
  none.hidden = list.children.length > 0;

  const handlers = { hello: (m) => WS.setWaiting(m.waiting), queue: (m) => WS.setWaiting(m.waiting) };
  if (page === 'alerts') {
    handlers.alert = (it) => add(it, true);
    WS.events('/events/alerts', handlers);
  } else {
    handlers.feed = (it) => add(it, true);
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(D.filter)) if (v) query.set(k, v);
    WS.events('/events/feed?' + query.toString(), handlers);
    document.addEventListener('keydown', (e) => {
      if (e.key === '/' && !WS.typing(e)) {
        e.preventDefault();
        document.querySelector('input[name="q"]').focus();
      }
    });
  }
  document.body.dataset.ready = '1';
})();
