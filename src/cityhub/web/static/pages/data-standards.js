// Standards conformance: conforming and non-conforming values per unit (stacked), worst first.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.chart;
  if (!d.names.length) { return; }
  cityhub.chart('conformance-chart', {
    tooltip: {trigger: 'axis'},
    legend: {top: 0},
    grid: {left: 40, right: 20, top: 36, bottom: 10, containLabel: true},
    xAxis: {type: 'category', data: d.names, axisLabel: {rotate: 35, width: 110, overflow: 'truncate', interval: 0}},
    yAxis: {type: 'value'},
    series: [
      {name: page.labels.conforming, type: 'bar', stack: 'values', data: d.conforming, itemStyle: {color: '#3ba272'}},
      {name: page.labels.nonconforming, type: 'bar', stack: 'values', data: d.nonconforming,
       itemStyle: {color: '#ee6666'}}]});
})();
