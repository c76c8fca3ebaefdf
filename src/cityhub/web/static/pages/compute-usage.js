// Capability hub, usage and chargeback: calls and cost per calling department.
(function () {
  'use strict';
  const d = cityhub.data();
  const units = d.units;
  cityhub.chart('units', {
    tooltip: {trigger: 'axis'}, legend: {data: [d.labels.calls, d.labels.cost], top: 0},
    grid: {left: 56, right: 56, top: 32, bottom: 90},
    xAxis: {type: 'category', data: units.map((x) => x.name), axisLabel: {rotate: 30, interval: 0}},
    yAxis: [{type: 'value', minInterval: 1}, {type: 'value'}],
    series: [
      {name: d.labels.calls, type: 'bar', data: units.map((x) => x.calls), itemStyle: {color: '#2f6fde'}},
      {name: d.labels.cost, type: 'bar', yAxisIndex: 1, data: units.map((x) => x.cost), itemStyle: {color: '#e08e0b'}},
    ]});
})();
