// Cloud chief scorecards: the ranking of all units, as horizontal bars (first place on top). Unit names sit on the
// category axis cut to one line with an ellipsis — never overlapping, however long — and the full name reads in the
// tooltip of the row; the chart grows with the number of units.
(function () {
  'use strict';
  const d = cityhub.data().ranking;
  const node = document.getElementById('ranking');
  if (node) node.style.height = Math.max(240, 26 * d.length + 60) + 'px';
  cityhub.chart('ranking', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    grid: {left: 8, right: 40, top: 10, bottom: 24, containLabel: true},
    xAxis: {type: 'value', max: 100},
    yAxis: {type: 'category', inverse: true, data: d.map((x) => x.name),
      axisLabel: {width: 150, overflow: 'truncate', ellipsis: '…'}, axisTick: {show: false}},
    series: [{type: 'bar', data: d.map((x) => x.score), barMaxWidth: 18, label: {show: true, position: 'right'}}]});
})();
