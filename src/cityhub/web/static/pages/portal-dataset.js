// Open dataset: a quick bar chart of the preview's numeric columns.
(function () {
  'use strict';
  const c = cityhub.data();
  if (!c) return;
  cityhub.chart('quick-chart', {tooltip: {trigger: 'axis'}, legend: {}, grid: {left: 50, right: 20, top: 30, bottom: 30},
    xAxis: {type: 'category', name: '_id', data: c.x}, yAxis: {type: 'value'},
    series: c.series.map((s) => ({type: 'bar', name: s.name, data: s.data}))});
})();
