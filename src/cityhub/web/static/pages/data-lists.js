// Three lists: responsibility KPIs by unit.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.chart;
  const L = page.labels;
  cityhub.chart('kpi-chart', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.score, L.coverage, L.pass]},
    grid: {left: 40, right: 20, bottom: 90},
    xAxis: {type: 'category', data: d.names, axisLabel: {rotate: 35}}, yAxis: {type: 'value', max: 100},
    series: [{name: L.score, type: 'bar', data: d.score},
      {name: L.coverage, type: 'line', data: d.coverage},
      {name: L.pass, type: 'line', data: d.pass}]});
})();
