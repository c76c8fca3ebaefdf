// Scenarios per batch, stacked by status (declared, building, built, accepted).
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('scenario-chart');
  if (!el || !window.echarts) return;
  const colors = ['#b0bec5', '#ffb74d', '#66bb6a', '#2e7d32'];
  cityhub.chart(el, {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    legend: {top: 0},
    grid: {left: 40, right: 20, top: 36, bottom: 30},
    xAxis: {type: 'category', data: page.batches},
    yAxis: {type: 'value', minInterval: 1},
    series: page.series.map((s, i) => ({name: s.name, type: 'bar', stack: 'status', data: s.data,
      itemStyle: {color: colors[i]}, barMaxWidth: 48}))});
})();
