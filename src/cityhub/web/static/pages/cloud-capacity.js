// Cloud capacity: allocated and free vCPUs by provider.
(function () {
  'use strict';
  const page = cityhub.data();
  const d = page.by_provider;
  const L = page.labels;
  cityhub.chart('by-provider', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.allocated, L.free]},
    xAxis: {type: 'category', data: d.map((x) => x.provider)}, yAxis: {type: 'value', name: 'vCPU'},
    series: [{name: L.allocated, type: 'bar', stack: 'c', data: d.map((x) => x.vcpus_used)},
      {name: L.free, type: 'bar', stack: 'c', data: d.map((x) => x.vcpus_total - x.vcpus_used)}]});
})();
