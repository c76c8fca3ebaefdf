// Audit log: the most frequent actions of the filtered log, by their labels.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('by-action');
  if (!el) return;
  const rows = page.by_action.slice().reverse();
  cityhub.chart('by-action', {tooltip: {}, grid: {left: 8, right: 40, top: 6, bottom: 6, containLabel: true},
    xAxis: {type: 'value', minInterval: 1},
    yAxis: {type: 'category', data: rows.map((x) => x[0]),
      axisLabel: {width: 260, overflow: 'truncate'}},
    series: [{type: 'bar', data: rows.map((x) => x[1]), itemStyle: {color: '#1565c0'},
      label: {show: true, position: 'right'}}]});
})();
