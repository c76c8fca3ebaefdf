// Capability hub, component page: calls per day over the last 30 days (what the viewer may see of them).
(function () {
  'use strict';
  const d = cityhub.data();
  const days = d.usage;
  cityhub.chart('usage', {
    tooltip: {trigger: 'axis'}, legend: {data: [d.labels.calls, d.labels.errors], top: 0},
    grid: {left: 48, right: 16, top: 32, bottom: 40},
    xAxis: {type: 'category', data: days.map((x) => x.day.slice(5))},
    yAxis: {type: 'value', minInterval: 1},
    series: [
      {name: d.labels.calls, type: 'bar', barMaxWidth: 18, data: days.map((x) => x.calls), itemStyle: {color: '#2f6fde'}},
      {name: d.labels.errors, type: 'bar', barMaxWidth: 18, data: days.map((x) => x.errors), itemStyle: {color: '#d9534f'}},
    ]});
})();
