// Digital economy: enterprises per park (bar), per sector (pie), per size (bar, a park's page).
(function () {
  'use strict';
  const page = cityhub.data();
  if (!window.echarts) return;
  const parks = document.getElementById('park-chart');
  if (parks) {
    cityhub.chart(parks, {
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      grid: {left: 140, right: 30, top: 10, bottom: 30},
      xAxis: {type: 'value', minInterval: 1},
      yAxis: {type: 'category', data: page.parks, inverse: true},
      series: [{name: page.label, type: 'bar', data: page.counts, itemStyle: {color: '#1e88e5'}, barMaxWidth: 28,
        label: {show: true, position: 'right'}}]});
  }
  const sectors = document.getElementById('sector-chart');
  if (sectors) {
    cityhub.chart(sectors, {
      tooltip: {trigger: 'item', formatter: '{b}: {c} ({d}%)'},
      legend: {type: 'scroll', bottom: 0},
      series: [{name: page.label, type: 'pie', radius: ['38%', '68%'], center: ['50%', '45%'], data: page.sectors}]});
  }
  const sizes = document.getElementById('size-chart');
  if (sizes) {
    cityhub.chart(sizes, {
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      grid: {left: 40, right: 20, top: 10, bottom: 30},
      xAxis: {type: 'category', data: page.sizes},
      yAxis: {type: 'value', minInterval: 1},
      series: [{name: page.label, type: 'bar', data: page.size_counts, itemStyle: {color: '#43a047'}, barMaxWidth: 48}]});
  }
})();
