// Device: the last six hours of 1-minute averages, refreshed every 15 s. Times read in the display time zone
// (Asia/Shanghai), like the table of latest values beside the chart, whatever the browser's own zone.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('chart');
  const numeric = page.metrics.filter((m) => m.type !== 'string');
  const label = (m) => m.name + (m.unit ? ' (' + m.unit + ')' : '');
  async function load() {
    const to = new Date();
    const from = new Date(to.getTime() - 6 * 3600 * 1000);
    const url = '/api/v1/connect/devices/' + encodeURIComponent(page.device_id) +
      '/telemetry?agg=avg&interval=1m&from=' + encodeURIComponent(from.toISOString()) +
      '&to=' + encodeURIComponent(to.toISOString());
    const r = await fetch(url, {credentials: 'same-origin'});
    if (!r.ok) return;
    const data = await r.json();
    const series = numeric.map((m, i) => ({
      name: label(m), type: 'line', showSymbol: false, yAxisIndex: i === 0 ? 0 : 1,
      data: data.buckets.filter((b) => b.key === m.key).map((b) => [Date.parse(b.ts), b.value])}));
    // one value axis per side, named by its metric's unit; further metrics share the right-hand axis
    const axis = (m) => ({type: 'value', scale: true, name: m ? m.unit || '' : '',
      axisLabel: {hideOverlap: true}, splitLine: {show: !!m && m === numeric[0]}});
    cityhub.chart(el, {
      tooltip: {trigger: 'axis', formatter: cityhub.tip((items) => {
        const list = Array.isArray(items) ? items : [items];
        if (!list.length) return '';
        return [cityhub.timeText(list[0].value[0], {seconds: false})].concat(
          list.map((p) => p.seriesName + ': ' + (p.value[1] == null ? '—' : Number(p.value[1]).toFixed(2))));
      })},
      legend: {type: 'scroll', top: 0},
      grid: {left: 56, right: 56, top: 44, bottom: 28, containLabel: true},
      xAxis: cityhub.timeAxis(),
      yAxis: [axis(numeric[0]), axis(numeric[1])],
      series});
  }
  load();
  setInterval(load, 15000);
})();
