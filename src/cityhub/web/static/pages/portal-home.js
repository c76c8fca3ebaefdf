// Open data portal: datasets by department and theme, downloads by day.
(function () {
  'use strict';
  const page = cityhub.data();
  const byOrg = page.by_org;
  cityhub.chart('by-org', {tooltip: {}, grid: {left: 10, right: 20, top: 10, bottom: 20, containLabel: true},
    xAxis: {type: 'value', minInterval: 1}, yAxis: {type: 'category', data: byOrg.map((x) => x.name).reverse()},
    series: [{type: 'bar', data: byOrg.map((x) => x.value).reverse(), itemStyle: {color: '#1565c0'}}]});
  cityhub.chart('by-theme', {tooltip: {trigger: 'item'},
    series: [{type: 'pie', radius: ['40%', '70%'], data: page.by_theme}]});
  const d = page.downloads_by_day;
  cityhub.chart('downloads', {tooltip: {trigger: 'axis'}, grid: {left: 40, right: 20, top: 10, bottom: 30},
    xAxis: {type: 'category', data: d.days.map((x) => x.slice(5))}, yAxis: {type: 'value', minInterval: 1},
    series: [{type: 'line', smooth: true, areaStyle: {}, data: d.values}]});
})();
