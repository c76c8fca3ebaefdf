// An evaluation run: every unit's total as a horizontal bar, the first rank on top.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('ranking');
  if (el) el.style.height = Math.max(300, 24 * page.names.length + 40) + 'px';
  cityhub.chart('ranking', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    grid: {left: 8, right: 40, top: 10, bottom: 20, containLabel: true},
    xAxis: {type: 'value', max: 100},
    yAxis: {type: 'category', data: page.names, axisLabel: {width: 110, overflow: 'truncate'}},
    series: [{name: page.label, type: 'bar', data: page.totals, barMaxWidth: 18,
      itemStyle: {color: '#1a73e8'}, label: {show: true, position: 'right', formatter: (p) => p.value.toFixed(1)}}]});
})();
