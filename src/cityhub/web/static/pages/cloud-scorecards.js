// Cloud chief scorecards: the ranking of all units.
(function () {
  'use strict';
  const d = cityhub.data().ranking;
  cityhub.chart('ranking', {tooltip: {trigger: 'axis'}, grid: {bottom: 110},
    xAxis: {type: 'category', data: d.map((x) => x.name), axisLabel: {rotate: 50}}, yAxis: {type: 'value', max: 100},
    series: [{type: 'bar', data: d.map((x) => x.score)}]});
})();
