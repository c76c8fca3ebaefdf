// Data collection: rows inserted, updated and rejected per run (oldest to newest).
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.chart;
  const L = page.labels;
  if (!d.at.length) { return; }
  cityhub.chart('runs-chart', {
    tooltip: {trigger: 'axis', formatter: function (ps) {
      const i = ps[0].dataIndex;
      return cityhub.escapeHtml(d.job[i]) + ' · ' + cityhub.escapeHtml(d.at[i]) + '<br>' +
        ps.map(function (p) { return cityhub.escapeHtml(p.seriesName) + ': ' + p.value; }).join('<br>');
    }},
    legend: {data: [L.inserted, L.updated, L.rejected]},
    grid: {left: 40, right: 20, top: 40, bottom: 10, containLabel: true},
    xAxis: {type: 'category', data: d.at, axisLabel: {rotate: 35}}, yAxis: {type: 'value'},
    series: [{name: L.inserted, type: 'bar', stack: 'rows', data: d.inserted},
      {name: L.updated, type: 'bar', stack: 'rows', data: d.updated},
      {name: L.rejected, type: 'bar', stack: 'rows', data: d.rejected}]});
})();
