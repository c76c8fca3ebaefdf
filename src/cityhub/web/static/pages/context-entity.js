// One entity's numeric properties over time (the newest instances of the temporal store), one line each.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('history-chart');
  if (!el || !page || !page.series.length) return;
  cityhub.chart(el, {
    tooltip: {trigger: 'axis'},
    legend: {top: 0},
    grid: {left: 50, right: 20, top: 30, bottom: 30},
    xAxis: cityhub.timeAxis(),
    yAxis: {type: 'value', scale: true},
    series: page.series.map((s) => ({name: s.name, type: 'line', showSymbol: s.points.length < 3, data: s.points}))});
})();
