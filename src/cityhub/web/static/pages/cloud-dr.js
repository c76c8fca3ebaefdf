// Disaster recovery: required against actual GB/T 20988 level, as a heat map of system counts.
(function () {
  'use strict';
  const page = cityhub.data();
  const levels = ['1', '2', '3', '4', '5', '6'];
  cityhub.chart('matrix', {
    tooltip: {position: 'top'}, grid: {left: 80, bottom: 60},
    xAxis: {type: 'category', data: levels, name: page.labels.actual, splitArea: {show: true}},
    yAxis: {type: 'category', data: levels, name: page.labels.required, splitArea: {show: true}},
    visualMap: {min: 0, max: page.max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0},
    series: [{type: 'heatmap', data: page.cells, label: {show: true}}]});
})();
