// Tenancies: vCPUs in use against quota.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.usage;
  const L = page.labels;
  cityhub.chart('usage', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.in_use, L.quota]}, grid: {bottom: 90},
    xAxis: {type: 'category', data: d.map((x) => x.name.replace('重庆市', '')), axisLabel: {rotate: 45}},
    yAxis: {type: 'value', name: 'vCPU'},
    series: [{name: L.in_use, type: 'bar', data: d.map((x) => x.vcpus)},
      {name: L.quota, type: 'bar', itemStyle: {opacity: 0.35}, data: d.map((x) => x.quota)}]});
})();
