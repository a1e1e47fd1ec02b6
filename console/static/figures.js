// The figures page: numbers come with the page as JSON; each chart is SVG drawn here.
'use strict';

(() => {
  const D = WS.data();
  Charts.stacked(document.getElementById('chart-labels'), D.days, D.labels_per_editor);
  Charts.agreement(document.getElementById('chart-agreement'), D.agreement);
  Charts.share(document.getElementById('chart-review'), D.days, D.review_share);
  Charts.counts(document.getElementById('chart-rules'), D.alerts_per_rule, 'No alerts in this period.');
  WS.events('/events/alerts', { hello: (m) => WS.setWaiting(m.waiting), queue: (m) => WS.setWaiting(m.waiting) });
  document.body.dataset.ready = '1';
})();
