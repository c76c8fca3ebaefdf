// Three lists: responsibility KPIs by unit.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.chart;
  const L = page.labels;
  cityhub.chart('kpi-chart', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.score, L.coverage, L.pass]},
    grid: {left: 40, right: 30, top: 40, bottom: 10, containLabel: true},
    xAxis: {type: 'category', data: d.names, axisLabel: {rotate: 35, width: 110, overflow: 'truncate', interval: 0}}, yAxis: {type: 'value', max: 100},
    series: [{name: L.score, type: 'bar', data: d.score},
      {name: L.coverage, type: 'line', data: d.coverage},
      {name: L.pass, type: 'line', data: d.pass}]});
})();
