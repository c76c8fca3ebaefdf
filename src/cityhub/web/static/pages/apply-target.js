// A programme target: its recorded values, the least-squares trend to the deadline, and the target line.
(function () {
  'use strict';
  const page = cityhub.data();
  const L = page.labels;
  const series = [{name: L.history, type: 'line', step: false, data: page.history.map((p) => [Date.parse(p[0]), p[1]])},
    {name: L.forecast, type: 'line', symbol: 'none', lineStyle: {type: 'dashed'},
      data: page.forecast.map((p) => [Date.parse(p[0]), p[1]])}];
  if (page.target !== null && page.deadline) {
    const first = page.history.length ? Date.parse(page.history[0][0]) : Date.parse(page.deadline);
    series.push({name: L.target, type: 'line', symbol: 'none', lineStyle: {type: 'dotted'},
      data: [[first, page.target], [Date.parse(page.deadline), page.target]]});
  }
  cityhub.chart('trend', {
    tooltip: {trigger: 'axis'}, legend: {data: series.map((s) => s.name)},
    xAxis: {type: 'time'}, yAxis: {type: 'value'}, series: series});
})();
