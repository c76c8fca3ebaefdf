// Migration: on-cloud and integration ratios by department against their targets, and their history.
(function () {
  'use strict';
  const page = cityhub.data();
  const L = page.labels;
  const u = page.units;
  cityhub.chart('ratios', {
    tooltip: {trigger: 'axis', valueFormatter: (v) => v + '%'}, grid: {bottom: 110},
    legend: {data: [L.cloud, L.integration, L.cloud_target, L.integration_target]},
    xAxis: {type: 'category', data: u.map((x) => x.name), axisLabel: {rotate: 50}}, yAxis: {type: 'value', max: 100},
    series: [{name: L.cloud, type: 'bar', data: u.map((x) => x.cloud)},
      {name: L.integration, type: 'bar', data: u.map((x) => x.integration)},
      {name: L.cloud_target, type: 'line', symbol: 'none', lineStyle: {type: 'dashed'}, data: u.map((x) => x.cloud_target)},
      {name: L.integration_target, type: 'line', symbol: 'none', lineStyle: {type: 'dotted'},
        data: u.map((x) => x.integration_target)}]});
  const h = page.history;
  cityhub.chart('history', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.cloud, L.integration]},
    xAxis: {type: 'category', data: h.map((x) => x.day)}, yAxis: {type: 'value', max: 1},
    series: [{name: L.cloud, type: 'line', data: h.map((x) => x.cloud)},
      {name: L.integration, type: 'line', data: h.map((x) => x.integration)}]});
})();
