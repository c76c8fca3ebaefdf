// Device: the last six hours of 1-minute averages, refreshed every 15 s.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('chart');
  async function load() {
    const to = new Date();
    const from = new Date(to.getTime() - 6 * 3600 * 1000);
    const url = '/api/v1/connect/devices/' + encodeURIComponent(page.device_id) +
      '/telemetry?agg=avg&interval=1m&from=' + encodeURIComponent(from.toISOString()) +
      '&to=' + encodeURIComponent(to.toISOString());
    const r = await fetch(url, {credentials: 'same-origin'});
    if (!r.ok) return;
    const data = await r.json();
    const series = page.metrics.filter((m) => m.type !== 'string').map((m, i) => ({
      name: m.name + (m.unit ? ' (' + m.unit + ')' : ''), type: 'line', showSymbol: false, yAxisIndex: i === 0 ? 0 : 1,
      data: data.buckets.filter((b) => b.key === m.key).map((b) => [b.ts, b.value])}));
    cityhub.chart(el, {tooltip: {trigger: 'axis'}, legend: {}, grid: {left: 60, right: 60},
      xAxis: {type: 'time'}, yAxis: [{type: 'value', scale: true}, {type: 'value', scale: true}], series});
  }
  load();
  setInterval(load, 15000);
})();
