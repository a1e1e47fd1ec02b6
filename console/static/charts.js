// Small SVG charts drawn by the page: no library, no build. Labels are set as
// text (rule and editor names come from outside and are never markup).
'use strict';

const Charts = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

  function s(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = String(text);
    return el;
  }

  function svg(width, height) {
    return s('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'svg-chart' });
  }

  function empty(el, message) {
    const p = document.createElement('p');
    p.className = 'muted chart-empty';
    p.textContent = message;
    el.replaceChildren(p);
  }

  const shortDay = (d) => d.slice(5).replace('-', '/');

  function axis(g, x0, x1, y0, y1, max, ticks, fmt) {
    for (let i = 0; i <= ticks; i += 1) {
      const v = (max * i) / ticks;
      const y = y1 - ((y1 - y0) * i) / ticks;
      g.append(s('line', { x1: x0, x2: x1, y1: y, y2: y, class: i ? 'grid' : 'base' }));
      g.append(s('text', { x: x0 - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
    }
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // Stacked columns: one per day, one colour per series (editor).
  function stacked(el, days, series) {
    const names = Object.keys(series);
    const totals = days.map((_, i) => names.reduce((a, n) => a + series[n][i], 0));
    if (!names.length || !totals.some(Boolean)) return empty(el, 'No labels in this period yet.');
    const W = 560, H = 230, L = 40, R = 10, T = 12, B = 44;
    const chart = svg(W, H);
    const max = Math.max(5, niceMax(Math.max(...totals)));
    axis(chart, L, W - R, T, H - B, max, 5, (v) => (Number.isInteger(v) ? v : v.toFixed(1)));
    const step = (W - L - R) / days.length;
    const bw = Math.max(4, step * 0.64);
    days.forEach((day, i) => {
      let y = H - B;
      const x = L + i * step + (step - bw) / 2;
      names.forEach((name, k) => {
        const v = series[name][i];
        if (!v) return;
        const hgt = ((H - B - T) * v) / max;
        y -= hgt;
        const r = s('rect', { x, y, width: bw, height: hgt, fill: PALETTE[k % PALETTE.length], rx: 1.5 });
        r.append(s('title', {}, `${name}: ${v} on ${day}`));
        chart.append(r);
      });
      if (totals[i]) chart.append(s('text', { x: x + bw / 2, y: y - 4, class: 'val', 'text-anchor': 'middle' }, totals[i]));
      if (i % 2 === days.length % 2 || days.length <= 7) {
        chart.append(s('text', { x: x + bw / 2, y: H - B + 16, class: 'tick', 'text-anchor': 'middle' }, shortDay(day)));
      }
    });
    let lx = L;
    names.forEach((name, k) => {
      chart.append(s('rect', { x: lx, y: H - 16, width: 10, height: 10, fill: PALETTE[k % PALETTE.length], rx: 2 }));
      const label = s('text', { x: lx + 14, y: H - 7, class: 'legend' }, name);
      chart.append(label);
      lx += 26 + name.length * 7;
    });
    el.replaceChildren(chart);
  }

  // Horizontal bars, 0-100 %, with an interval whisker and an n per row.
  function agreement(el, rows) {
    if (!rows.some((r) => r.n)) return empty(el, 'No labels to compare with the model yet.');
    const W = 560, rowH = 40, L = 110, R = 110, T = 10;
    const H = T + rows.length * rowH + 22;
    const chart = svg(W, H);
    const x = (v) => L + (W - L - R) * v;
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      chart.append(s('line', { x1: x(v), x2: x(v), y1: T - 4, y2: H - 22, class: v ? 'grid' : 'base' }));
      chart.append(s('text', { x: x(v), y: H - 6, class: 'tick', 'text-anchor': 'middle' }, Math.round(v * 100) + '%'));
    }
    rows.forEach((r, i) => {
      const y = T + i * rowH;
      chart.append(s('text', { x: L - 10, y: y + 19, class: 'label', 'text-anchor': 'end' }, r.head));
      if (!r.n) {
        chart.append(s('text', { x: x(0) + 6, y: y + 19, class: 'tick' }, 'no labels yet'));
        return;
      }
      const bar = s('rect', { x: x(0), y: y + 6, width: x(r.rate) - x(0), height: 18, class: 'bar-agree', rx: 2 });
      bar.append(s('title', {}, `${r.agree} of ${r.n} labels agree; 95% interval ${Math.round(r.low * 100)}–${Math.round(r.high * 100)}%`));
      chart.append(bar);
      chart.append(s('line', { x1: x(r.low), x2: x(r.high), y1: y + 15, y2: y + 15, class: 'whisker' }));
      chart.append(s('line', { x1: x(r.low), x2: x(r.low), y1: y + 10, y2: y + 20, class: 'whisker' }));
      chart.append(s('line', { x1: x(r.high), x2: x(r.high), y1: y + 10, y2: y + 20, class: 'whisker' }));
      chart.append(s('text', { x: W - R + 8, y: y + 19, class: 'val-strong' }, `${Math.round(r.rate * 100)}%`));
      chart.append(s('text', { x: W - R + 50, y: y + 19, class: 'tick' }, `n=${r.n}`));
    });
    el.replaceChildren(chart);
  }

  // Columns of a share per day, with the counts in each column's tooltip.
  function share(el, days, data) {
    if (!data.classified.some(Boolean)) return empty(el, 'Nothing classified in this period yet.');
    const W = 560, H = 210, L = 40, R = 10, T = 16, B = 26;
    const chart = svg(W, H);
    const shares = data.share.map((v) => v || 0);
    const max = Math.min(1, niceMax(Math.max(...shares, 0.05)));
    axis(chart, L, W - R, T, H - B, max, 5, (v) => +(v * 100).toFixed(1) + '%');
    const step = (W - L - R) / days.length;
    const bw = Math.max(4, step * 0.64);
    days.forEach((day, i) => {
      const x = L + i * step + (step - bw) / 2;
      if (data.classified[i]) {
        const hgt = ((H - B - T) * shares[i]) / max;
        const r = s('rect', { x, y: H - B - hgt, width: bw, height: hgt, class: 'bar-share', rx: 1.5 });
        r.append(s('title', {}, `${day}: ${data.review[i]} of ${data.classified[i]} stories sent for review`));
        chart.append(r);
        chart.append(s('text', { x: x + bw / 2, y: H - B - hgt - 4, class: 'val', 'text-anchor': 'middle' }, Math.round(shares[i] * 100) + '%'));
      }
      if (i % 2 === days.length % 2 || days.length <= 7) {
        chart.append(s('text', { x: x + bw / 2, y: H - 8, class: 'tick', 'text-anchor': 'middle' }, shortDay(day)));
      }
    });
    el.replaceChildren(chart);
  }

  // Horizontal bars of counts per name.
  function counts(el, rows, emptyText) {
    if (!rows.length) return empty(el, emptyText);
    const W = 560, rowH = 28, L = 220, R = 60, T = 6;
    const H = T + rows.length * rowH + 6;
    const chart = svg(W, H);
    const max = Math.max(...rows.map((r) => r.n));
    rows.forEach((r, i) => {
      const y = T + i * rowH;
      chart.append(s('text', { x: L - 10, y: y + 17, class: 'label', 'text-anchor': 'end' }, r.rule.length > 30 ? r.rule.slice(0, 29) + '…' : r.rule));
      const w = ((W - L - R) * r.n) / max;
      const bar = s('rect', { x: L, y: y + 5, width: Math.max(2, w), height: 16, class: 'bar-rule', rx: 2 });
      bar.append(s('title', {}, `${r.rule}: ${r.n}`));
      chart.append(bar);
      chart.append(s('text', { x: L + w + 6, y: y + 17, class: 'val-strong' }, r.n));
    });
    el.replaceChildren(chart);
  }

  return { stacked, agreement, share, counts };
})();
