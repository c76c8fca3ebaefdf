// Tenancies: vCPUs in use against quota.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.usage;
  const L = page.labels;
  cityhub.chart('usage', {
    // long tenancy names: cut to one line (the axis tooltip names the whole tenancy), tilted only when many, and
    // the grid makes room for them (containLabel) so no label is clipped at the chart's edge
    tooltip: {trigger: 'axis'}, legend: {data: [L.in_use, L.quota]},
    grid: {left: 8, right: 16, top: 40, bottom: 8, containLabel: true},
    xAxis: {type: 'category', data: d.map((x) => x.name.replace('重庆市', '')),
      axisLabel: {interval: 0, rotate: d.length > 4 ? 30 : 0, width: d.length > 4 ? 120 : 220, overflow: 'truncate',
        ellipsis: '…'}},
    yAxis: {type: 'value', name: 'vCPU'},
    series: [{name: L.in_use, type: 'bar', data: d.map((x) => x.vcpus)},
      {name: L.quota, type: 'bar', itemStyle: {opacity: 0.35}, data: d.map((x) => x.quota)}]});
})();
