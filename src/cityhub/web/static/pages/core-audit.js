// Audit log: actions by name.
(function () {
  'use strict';
  const page = cityhub.data();
  cityhub.chart('by-action', {tooltip: {}, grid: {left: 140, right: 20, top: 10, bottom: 20}, xAxis: {type: 'value'},
    yAxis: {type: 'category', data: page.by_action.map((x) => x[0])},
    series: [{type: 'bar', data: page.by_action.map((x) => x[1]), itemStyle: {color: '#1565c0'}}]});
})();
