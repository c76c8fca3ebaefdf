// Open data portal: open datasets by department (by open type) and by theme, downloads and API calls by day.
(function () {
  'use strict';
  const page = cityhub.data();
  const L = page.labels;
  const byOrg = page.by_org.slice().reverse();
  cityhub.chart('by-org', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    legend: {data: [L.unconditional, L.conditional], bottom: 0},
    grid: {left: 10, right: 24, top: 10, bottom: 36, containLabel: true},
    xAxis: {type: 'value', minInterval: 1, name: L.datasets, nameLocation: 'middle', nameGap: 24},
    yAxis: {type: 'category', data: byOrg.map((x) => x.name),
      axisLabel: {width: 170, overflow: 'truncate'}},
    series: [
      {name: L.unconditional, type: 'bar', stack: 'open', data: byOrg.map((x) => x.unconditional),
        itemStyle: {color: '#2e7d32'}, label: {show: true, formatter: (p) => (p.value ? String(p.value) : '')}},
      {name: L.conditional, type: 'bar', stack: 'open', data: byOrg.map((x) => x.conditional),
        itemStyle: {color: '#ef8f00'}, label: {show: true, formatter: (p) => (p.value ? String(p.value) : '')}}]});
  cityhub.chart('by-theme', {
    tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name + ': ' + p.value + ' (' + p.percent + '%)')},
    series: [{type: 'pie', radius: ['38%', '64%'], data: page.by_theme,
      label: {formatter: (p) => p.name + ' ' + p.value}}]});
  const d = page.usage_by_day;
  cityhub.chart('downloads', {
    tooltip: {trigger: 'axis'}, legend: {data: [L.downloads, L.api_calls], top: 0},
    grid: {left: 48, right: 48, top: 32, bottom: 30},
    xAxis: {type: 'category', data: d.days.map((x) => x.slice(5))},
    yAxis: [{type: 'value', minInterval: 1, name: L.downloads}, {type: 'value', minInterval: 1, name: L.api_calls}],
    series: [{name: L.downloads, type: 'bar', data: d.downloads, itemStyle: {color: '#1565c0'}},
      {name: L.api_calls, type: 'line', yAxisIndex: 1, data: d.api_calls, itemStyle: {color: '#ef8f00'}}]});
})();
