// The review queue: a mail-client list on the left, the open story on the right,
// one decision per keystroke. Every piece of story data is set with textContent.
'use strict';

(() => {
  const { h, setText, api, toast, pct, bar, ago } = WS;
  const D = WS.data();
  const me = D.me;
  const HEADS = ['topic', 'stance', 'humanitarian', 'military'];
  const $ = (id) => document.getElementById(id);
  const list = $('items');
  const S = {
    order: D.order,
    items: D.items.slice(),
    exhausted: D.items.length < D.page_size,
    loading: null,
    story: null,
    draft: null,
    overlay: null,
    pick: 0,
    lastAction: D.last_action
      ? { ...D.last_action, due: D.last_action.due_at * 1000 }
      : null,
    cache: new Map(),
    heads: new Set(),
    navStart: null,
  };

  // -- order and list ------------------------------------------------------------
  const key = (it) => (S.order === 'oldest' ? [it.seq] : [it.min_score, it.seq]);
  function cmp(a, b) {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i += 1) {
      if (ka[i] < kb[i]) return -1;
      if (ka[i] > kb[i]) return 1;
    }
    return 0;
  }
  const level = (s) => (s === null || s === undefined ? '' : s < 0.4 ? 'low' : s < 0.6 ? 'mid' : 'high');
  const indexOf = (id) => S.items.findIndex((it) => it.id === id);
  const othersClaim = (it) => it.claimed_by && it.claimed_by !== me.name;

  function findEl(id) {
    // ids can hold any character: compare them, never build a selector from one
    for (const li of list.children) if (li.dataset.id === id) return li;
    return null;
  }

  function fillItem(li, it) {
    const q = (sel) => li.querySelector(sel);
    const score = q('.score');
    setText(score, pct(it.min_score));
    score.className = 'score ' + level(it.min_score);
    setText(q('.headline'), it.headline);
    setText(q('.lang'), it.language || '?');
    setText(q('.topic'), it.topic || '—');
    setText(q('.stance'), it.stance || '—');
    q('.tags').replaceChildren(...WS.tags(it));
    const claim = q('.claim');
    setText(claim, it.claimed_by ? (it.claimed_by === me.name ? 'open: you' : 'with ' + it.claimed_by) : '');
    li.classList.toggle('claimed', Boolean(othersClaim(it)));
    setText(q('.age'), ago(it.classified_at));
    setText(q('.lede'), it.lede);
  }

  function itemEl(it) {
    const li = $('tpl-item').content.firstElementChild.cloneNode(true);
    li.dataset.id = it.id;
    fillItem(li, it);
    li.addEventListener('click', () => open(it.id));
    return li;
  }

  function footer() {
    let text = '';
    if (!S.exhausted) text = 'more below: keep pressing j';
    else if (S.items.length) text = 'end of the queue';
    setText($('list-end'), text);
  }

  function markCurrent() {
    for (const li of list.children) {
      li.classList.toggle('current', Boolean(S.story) && li.dataset.id === S.story.id);
    }
    const cur = list.querySelector('.current');
    if (cur) cur.scrollIntoView({ block: 'nearest' });
  }

  function renderList() {
    list.replaceChildren(...S.items.map(itemEl));
    markCurrent();
    footer();
  }

  function insert(it) {
    if (indexOf(it.id) >= 0) return;
    const last = S.items[S.items.length - 1];
    if (!S.exhausted && last && cmp(it, last) > 0) return; // beyond what is loaded: paging brings it
    let i = S.items.findIndex((x) => cmp(it, x) < 0);
    if (i < 0) i = S.items.length;
    S.items.splice(i, 0, it);
    const el = itemEl(it);
    el.classList.add('fresh');
    list.insertBefore(el, list.children[i] || null);
    footer();
  }

  function remove(id) {
    const i = indexOf(id);
    if (i >= 0) S.items.splice(i, 1);
    const el = findEl(id);
    if (el) el.remove();
    S.cache.delete(id);
    footer();
  }

  function setClaim(id, by) {
    const i = indexOf(id);
    if (i < 0) return;
    S.items[i].claimed_by = by;
    const el = findEl(id);
    if (el) fillItem(el, S.items[i]);
  }

  function loadMore() {
    if (S.exhausted) return Promise.resolve();
    if (!S.loading) {
      const url = `/api/queue?order=${S.order}&offset=${S.items.length}&limit=${D.page_size}`;
      S.loading = api('GET', url).then((r) => {
        S.loading = null;
        if (!r.ok) return;
        const have = new Set(S.items.map((i) => i.id));
        for (const it of r.data.items) {
          if (have.has(it.id)) continue;
          S.items.push(it);
          list.append(itemEl(it));
        }
        if (r.data.items.length < D.page_size) S.exhausted = true;
        footer();
      });
    }
    return S.loading;
  }

  function nextFrom(start, step) {
    for (let i = start; i >= 0 && i < S.items.length; i += step) {
      if (!othersClaim(S.items[i])) return S.items[i];
    }
    return null;
  }

  // -- the open story ---------------------------------------------------------------
  function segments(el, segs) {
    el.replaceChildren(
      ...segs.map(([text, heads]) => {
        const active = heads.filter((x) => S.heads.has(x));
        return active.length
          ? h('mark', { class: 'hl ' + active.map((x) => 'hl-' + x).join(' '), title: active.join(', ') }, text)
          : document.createTextNode(text);
      }),
    );
  }

  function renderText() {
    segments($('s-headline'), S.story.segments.headline);
    segments($('s-body'), S.story.segments.body);
    for (const b of $('legend').querySelectorAll('button[data-head]')) {
      b.setAttribute('aria-pressed', String(S.heads.has(b.dataset.head)));
    }
  }

  function banner(text, takeover) {
    setText($('banner-text'), text);
    $('takeover').hidden = !takeover;
    $('banner').hidden = !text;
  }

  const fmt = (v) => (typeof v === 'boolean' ? (v ? 'yes' : 'no') : v || '—');

  function renderDraft() {
    const p = S.story.predicted;
    const r = S.story.record;
    let changed = false;
    for (const head of HEADS) {
      const row = document.querySelector(`tr[data-head="${head}"]`);
      setText(row.querySelector('.model'), fmt(p[head]));
      const score = r[head + '_score'];
      row.querySelector('.conf').replaceChildren(bar(score), h('span', { class: 'pct' }, pct(score)));
      setText(row.querySelector('.yours'), fmt(S.draft[head]));
      const differs = S.draft[head] !== p[head];
      row.classList.toggle('changed', differs);
      changed = changed || differs;
    }
    setText($('submit-kind'), changed ? 'correction' : 'confirmation');
    $('btn-submit').classList.toggle('primary', changed);
    $('btn-confirm').classList.toggle('primary', !changed);
  }

  function show(d) {
    S.story = d;
    S.draft = { ...d.predicted };
    const r = d.record;
    $('empty').hidden = true;
    $('story').hidden = false;
    $('note').value = '';
    $('note-row').hidden = true;
    const meta = [r.source, r.published_at ? r.published_at.replace('T', ' ').slice(0, 16) : '', (r.language || '?') + (r.language_detected ? ' (detected)' : ''), r.model_version ? 'model ' + r.model_version : '', ago(r.classified_at)];
    $('s-meta').replaceChildren(...meta.filter(Boolean).map((m) => h('span', {}, m)));
    const link = WS.safeUrl(r.url);
    if (link) $('s-meta').append(h('a', { href: link, rel: 'noopener noreferrer nofollow', target: '_blank' }, 'original'));
    S.heads = new Set(d.heads_shown);
    $('s-reasons').replaceChildren(
      ...(r.review_reasons || []).map((x) => h('span', { class: 'chip reason' }, x)),
      ...(r.alert_rules || []).map((x) => h('span', { class: 'chip rule' }, 'alert: ' + x)),
    );
    renderText();
    $('s-link').setAttribute('href', WS.storyHref(d.id));
    setText($('s-id'), d.id);
    const q = d.queue;
    if (!q) banner('This story is not in the review queue.');
    else if (q.status !== 'waiting') banner(`Already decided by ${q.decided_by}.`);
    else if (q.claimed_by && q.claimed_by !== me.name) banner(`Being reviewed by ${q.claimed_by}.`, me.can_label);
    else banner('');
    renderDraft();
    markCurrent();
    document.body.dataset.story = d.id;
    if (S.navStart !== null) {
      const started = S.navStart;
      S.navStart = null;
      requestAnimationFrame(() => setTimeout(() => { window.__wsLastNavMs = performance.now() - started; }, 0));
    }
  }

  function showEmpty() {
    S.story = null;
    $('story').hidden = true;
    $('empty').hidden = false;
    delete document.body.dataset.story;
    markCurrent();
  }

  async function fetchStory(id) {
    if (S.cache.has(id)) return S.cache.get(id);
    const r = await api('GET', '/api/stories/' + encodeURIComponent(id));
    if (!r.ok) return null;
    if (S.cache.size > 40) S.cache.clear();
    S.cache.set(id, r.data);
    return r.data;
  }

  async function open(id) {
    const d = await fetchStory(id);
    if (!d) {
      toast('That story is gone from the queue.', 'error');
      remove(id);
      return;
    }
    S.cache.delete(id); // opened: its claim state is about to change
    show(d);
    if (me.can_label && d.queue && d.queue.status === 'waiting' && !(d.queue.claimed_by && d.queue.claimed_by !== me.name)) {
      claim(d.id, false);
    }
    const i = indexOf(d.id);
    const next = i >= 0 ? nextFrom(i + 1, 1) : null;
    if (next) fetchStory(next.id);
  }

  async function claim(id, force) {
    const r = await api('POST', '/api/claim', { id, force });
    if (!S.story || S.story.id !== id) return;
    if (r.ok && r.data.claimed) {
      // one open story per editor: the server released any other claim of ours
      for (const it of S.items) if (it.claimed_by === me.name && it.id !== id) setClaim(it.id, null);
      setClaim(id, me.name);
      if (S.story.queue) S.story.queue.claimed_by = me.name;
      banner('');
    } else if (r.ok) {
      banner(`Being reviewed by ${r.data.by}.`, true);
    } else if (r.status === 409) {
      banner(r.data.error);
    }
  }

  async function move(step) {
    const i = S.story ? indexOf(S.story.id) : -1;
    let next = nextFrom(i < 0 ? (step > 0 ? 0 : S.items.length - 1) : i + step, step);
    if (!next && step > 0 && !S.exhausted) {
      await loadMore();
      next = nextFrom(i + 1, 1);
    }
    if (next) {
      S.navStart = performance.now();
      await open(next.id);
    } else {
      toast(step > 0 ? 'No more stories below.' : 'This is the first story.');
    }
  }

  // -- decisions --------------------------------------------------------------------
  function canDecide() {
    if (!me.can_label) {
      toast('Viewers can read the queue; editors label it.', 'error');
      return false;
    }
    if (!S.story || !S.story.queue || S.story.queue.status !== 'waiting') {
      toast('This story is not waiting for review.', 'error');
      return false;
    }
    return true;
  }

  async function decide(action) {
    if (!canDecide()) return;
    const started = performance.now();
    const d = S.story;
    const note = $('note').value.trim();
    const body = { id: d.id, action, note: note || null, force: false };
    if (action === 'correct') body.labels = S.draft;
    const r = await api('POST', '/api/decide', body);
    if (!r.ok) {
      toast(r.data.error || 'Not saved.', 'error');
      return;
    }
    const i = Math.max(0, indexOf(d.id));
    remove(d.id);
    WS.setWaiting(r.data.waiting);
    S.lastAction = { story_id: d.id, action: r.data.action, state: 'pending', due: Date.now() + r.data.undo_s * 1000 };
    undoStatus();
    const verb = r.data.action === 'confirm' ? 'Confirmed' : 'Corrected';
    toast(`${verb}. The label goes out in ${Math.round(r.data.undo_s)} s: u undoes.`, 'ok');
    let next = nextFrom(i, 1);
    if (!next && !S.exhausted) {
      await loadMore();
      next = nextFrom(i, 1);
    }
    if (next) {
      S.navStart = started; // decision to next story shown, for the benchmark
      await open(next.id);
    } else {
      showEmpty();
    }
  }

  function submit() {
    return decide('correct'); // the server calls it a confirmation when nothing changed
  }

  async function undo() {
    if (!me.can_label) return;
    const r = await api('POST', '/api/undo', {});
    if (!r.ok) {
      toast(r.data.error || 'Cannot undo.', 'error');
      if (S.lastAction && r.status === 409) S.lastAction.state = 'published';
      undoStatus();
      return;
    }
    WS.setWaiting(r.data.waiting);
    S.lastAction = null;
    undoStatus();
    insert(r.data.item);
    toast('Undone: the story is back in the queue and nothing was published.', 'ok');
    S.cache.delete(r.data.id);
    await open(r.data.id);
  }

  function undoStatus() {
    const el = $('undo-status');
    const a = S.lastAction;
    if (!a || !me.can_label) {
      el.hidden = true;
      return;
    }
    const left = Math.ceil((a.due - Date.now()) / 1000);
    el.hidden = false;
    if (a.state === 'pending' && left > 0) {
      setText(el, `Your last decision (${a.action}) is published in ${left} s. Press u to undo it.`);
      el.className = 'undo-status pending';
    } else {
      setText(el, `Your last decision (${a.action}) has been published: it can no longer be undone.`);
      el.className = 'undo-status done';
    }
  }

  function setDraft(head, value) {
    if (!S.story) return;
    S.draft[head] = value;
    renderDraft();
  }

  function resetDraft() {
    if (!S.story) return;
    S.draft = { ...S.story.predicted };
    renderDraft();
  }

  // -- note, help and the topic picker ----------------------------------------------------
  function openNote() {
    if (!S.story || !me.can_label) return;
    $('note-row').hidden = false;
    $('note').focus();
  }

  function closeNote() {
    $('note').blur();
    if (!$('note').value.trim()) $('note-row').hidden = true;
  }

  function openOverlay(name) {
    S.overlay = name;
    $(name).hidden = false;
  }

  function closeOverlay() {
    if (S.overlay) $(S.overlay).hidden = true;
    S.overlay = null;
  }

  function topics() {
    const f = $('picker-q').value.trim().toLowerCase();
    return D.topics.filter((t) => t.includes(f));
  }

  function renderPicker() {
    const found = topics();
    S.pick = Math.max(0, Math.min(S.pick, found.length - 1));
    $('picker-list').replaceChildren(
      ...found.map((t, i) => {
        const li = h('li', { class: (i === S.pick ? 'on' : '') + (S.draft && t === S.draft.topic ? ' cur' : '') }, t);
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          choose(t);
        });
        return li;
      }),
    );
    const on = $('picker-list').querySelector('.on');
    if (on) on.scrollIntoView({ block: 'nearest' });
  }

  function openPicker() {
    if (!S.story || !me.can_label) return;
    openOverlay('picker');
    $('picker-q').value = '';
    S.pick = Math.max(0, D.topics.indexOf(S.draft.topic));
    renderPicker();
    $('picker-q').focus();
  }

  function choose(topic) {
    closeOverlay();
    $('picker-q').blur();
    if (topic) setDraft('topic', topic);
  }

  function pickerKey(e) {
    const found = topics();
    if (e.key === 'Escape') choose(null);
    else if (e.key === 'ArrowDown') S.pick = Math.min(found.length - 1, S.pick + 1);
    else if (e.key === 'ArrowUp') S.pick = Math.max(0, S.pick - 1);
    else if (e.key === 'Enter') choose(found[S.pick]);
    else return;
    e.preventDefault();
    if (S.overlay === 'picker') renderPicker();
  }

  // -- keys ---------------------------------------------------------------------------
  const stanceKeys = {};
  D.stances.forEach((stance, i) => { stanceKeys[String(i + 1)] = stance; });
  $('stance-keys').replaceChildren(
    ...D.stances.flatMap((stance, i) => [h('kbd', { title: stance }, String(i + 1)), ' ']),
    'set',
  );

  const KEYS = {
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    Enter: submit,
    c: () => decide('confirm'),
    h: () => S.story && setDraft('humanitarian', !S.draft.humanitarian),
    m: () => S.story && setDraft('military', !S.draft.military),
    t: openPicker,
    n: openNote,
    u: undo,
    o: () => reorder('oldest'),
    l: () => reorder('least'),
    '?': () => openOverlay('help'),
    Escape: resetDraft,
  };

  document.addEventListener('keydown', (e) => {
    if (S.overlay === 'picker') {
      pickerKey(e);
      return;
    }
    if (e.target && e.target.id === 'note') {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeNote();
      } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit();
      }
      return;
    }
    if (WS.typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (S.overlay === 'help') {
      if (e.key === 'Escape' || e.key === '?') {
        e.preventDefault();
        closeOverlay();
      }
      return;
    }
    const action = stanceKeys[e.key] ? () => setDraft('stance', stanceKeys[e.key]) : KEYS[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  });

  function reorder(order) {
    if (order === S.order) return;
    const id = S.story ? '&id=' + encodeURIComponent(S.story.id) : '';
    location.href = `/queue?order=${order}${id}`;
  }

  // -- buttons, live events, claims kept alive ------------------------------------------
  for (const [id, fn] of [
    ['btn-confirm', () => decide('confirm')],
    ['btn-submit', submit],
    ['btn-note', openNote],
    ['btn-undo', undo],
    ['takeover', () => S.story && claim(S.story.id, true)],
  ]) {
    $(id).addEventListener('click', (e) => {
      e.currentTarget.blur();
      fn();
    });
  }
  for (const b of $('legend').querySelectorAll('button[data-head]')) {
    b.addEventListener('click', () => {
      b.blur();
      if (!S.story) return;
      if (S.heads.has(b.dataset.head)) S.heads.delete(b.dataset.head);
      else S.heads.add(b.dataset.head);
      renderText();
    });
  }
  $('picker-q').addEventListener('input', () => {
    S.pick = 0;
    renderPicker();
  });
  $('picker').addEventListener('mousedown', (e) => {
    if (e.target.id === 'picker') choose(null);
  });
  $('help').addEventListener('mousedown', (e) => {
    if (e.target.id === 'help') closeOverlay();
  });
  const scroller = $('scroll');
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop + scroller.clientHeight > scroller.scrollHeight - 200) loadMore();
  });

  // on (re)connecting, catch up with claims made while the stream was not there
  async function resync(waiting) {
    WS.setWaiting(waiting);
    if (!S.items.length) return;
    const url = `/api/queue?order=${S.order}&offset=0&limit=${Math.min(500, S.items.length)}`;
    const r = await api('GET', url);
    if (!r.ok) return;
    const fresh = new Map(r.data.items.map((it) => [it.id, it.claimed_by]));
    for (const it of S.items) {
      if (S.story && it.id === S.story.id) continue; // our own claim is in flight
      if (fresh.has(it.id) && fresh.get(it.id) !== it.claimed_by) setClaim(it.id, fresh.get(it.id));
    }
  }

  WS.events('/events/queue', {
    hello: (m) => resync(m.waiting),
    queue: (m) => {
      if (m.type === 'added') {
        for (const it of m.items) insert({ ...it, claimed_by: null });
        if (!S.story && S.items.length) open(nextFrom(0, 1)?.id || S.items[0].id);
      } else if (m.type === 'count') {
        WS.setWaiting(m.waiting);
      } else if (m.type === 'removed') {
        if (S.story && m.id === S.story.id && m.by !== me.name) {
          banner(`${m.by} has just decided this story: press j for the next.`);
          if (S.story.queue) S.story.queue.status = 'done';
        }
        remove(m.id);
      } else if (m.type === 'claimed') {
        setClaim(m.id, m.by);
        if (S.story && m.id === S.story.id && m.by !== me.name) {
          banner(`${m.by} has taken this story over.`);
          if (S.story.queue) S.story.queue.claimed_by = m.by;
        }
      } else if (m.type === 'released') {
        setClaim(m.id, null);
      } else if (m.type === 'returned') {
        insert(m.item);
      } else if (m.type === 'published') {
        if (S.lastAction && m.id === S.lastAction.story_id && m.by === me.name) {
          S.lastAction.state = 'published';
          undoStatus();
        }
      }
    },
  });

  if (me.can_label) {
    setInterval(() => {
      if (S.story && S.story.queue && S.story.queue.claimed_by === me.name) claim(S.story.id, false);
    }, Math.max(5000, (D.claim_s * 1000) / 3));
    window.addEventListener('pagehide', () => {
      const form = new FormData();
      form.append('csrf_token', WS.csrf());
      navigator.sendBeacon('/api/release', form);
    });
  } else {
    $('actions').hidden = true;
    $('readonly').hidden = false;
  }
  setInterval(undoStatus, 500);

  renderList();
  if (D.story) {
    show(D.story);
    if (me.can_label && D.story.queue && D.story.queue.status === 'waiting' && !(D.story.queue.claimed_by && D.story.queue.claimed_by !== me.name)) {
      claim(D.story.id, false);
    }
  } else {
    showEmpty();
  }
  undoStatus();
  document.body.dataset.ready = '1';
  performance.mark('ws-queue-ready');
})();
