// Saved analysis: chart the run's answer (first column along the x axis, each numeric column a series);
// while the run is running, the page reloads itself every two seconds to follow it.
(function () {
  'use strict';
  const d = cityhub.data();
  if (d.status === 'running') {
    window.setTimeout(function () { window.location.reload(); }, 2000);
    return;
  }
  if (d.chart === 'table' || !d.columns.length || !document.getElementById('analysis-chart')) {
    return;
  }
  const x = d.records.map((r) => r[0]);
  const series = [];
  d.columns.forEach(function (name, i) {
    if (i === 0) { return; }
    if (!d.records.some((r) => typeof r[i] === 'number')) { return; }
    series.push({name: name, type: d.chart, data: d.records.map((r) => r[i]), showSymbol: d.records.length < 60});
  });
  cityhub.chart('analysis-chart', {
    tooltip: {trigger: 'axis'}, legend: {top: 0},
    grid: {left: 56, right: 24, top: 32, bottom: 60},
    xAxis: {type: 'category', data: x, axisLabel: {rotate: x.length > 12 ? 30 : 0}},
    yAxis: {type: 'value'},
    series: series,
  });
})();
