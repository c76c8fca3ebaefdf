// Data quality: the score of each unit (0-100), lowest first.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.chart;
  if (!d.names.length) { return; }
  cityhub.chart('quality-chart', {
    tooltip: {trigger: 'axis'},
    grid: {left: 40, right: 20, top: 20, bottom: 10, containLabel: true},
    xAxis: {type: 'category', data: d.names, axisLabel: {rotate: 35, width: 110, overflow: 'truncate', interval: 0}},
    yAxis: {type: 'value', min: 0, max: 100},
    series: [{name: page.labels.score, type: 'bar', data: d.scores}]});
})();
