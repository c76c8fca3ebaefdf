// The evaluation report: the ranking as an SVG bar chart (it prints sharp), and the print button.
(function () {
  'use strict';
  const page = cityhub.data();
  const btn = document.getElementById('print');
  if (btn) btn.addEventListener('click', () => window.print());
  const el = document.getElementById('ranking-chart');
  if (!el || !window.echarts || !page.names.length) { if (el) el.hidden = true; return; }
  cityhub.chart(el, {
    animation: false,
    grid: {left: 120, right: 40, top: 10, bottom: 24},
    xAxis: {type: 'value', min: 0, max: (v) => Math.max(100, Math.ceil(v.max / 10) * 10)},
    yAxis: {type: 'category', data: page.names, axisLabel: {fontSize: 10}},
    series: [{name: page.label, type: 'bar', data: page.totals, barMaxWidth: 12, itemStyle: {color: '#1e5fb4'},
      label: {show: true, position: 'right', fontSize: 9, formatter: (p) => p.value.toFixed(1)}}]}, {renderer: 'svg'});
})();
