// Key projects: investment per park (planned against completed, bars) on the register; on a project's page its
// investment completed to date over time (line) against the total (a dotted line across the planned period).
(function () {
  'use strict';
  const page = cityhub.data();
  if (!window.echarts) return;
  const L = page.labels;
  const parks = document.getElementById('park-investment-chart');
  if (parks) {
    cityhub.chart(parks, {
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      legend: {data: [L.total, L.completed], bottom: 0},
      grid: {left: 150, right: 40, top: 10, bottom: 40},
      xAxis: {type: 'value'},
      yAxis: {type: 'category', data: page.parks, inverse: true},
      series: [
        {name: L.total, type: 'bar', data: page.total, itemStyle: {color: '#90caf9'}, barMaxWidth: 18},
        {name: L.completed, type: 'bar', data: page.completed, itemStyle: {color: '#1e88e5'}, barMaxWidth: 18}]});
  }
  const progress = document.getElementById('investment-chart');
  if (progress) {
    const points = page.points.map((p) => [Date.parse(p[0]), p[1]]);
    const ends = [page.start ? Date.parse(page.start) : null, page.finish ? Date.parse(page.finish) : null];
    const first = ends[0] !== null ? ends[0] : (points.length ? points[0][0] : Date.now());
    const last = ends[1] !== null ? ends[1] : (points.length ? points[points.length - 1][0] : Date.now());
    cityhub.chart(progress, {
      tooltip: {trigger: 'axis'},
      legend: {data: [L.completed, L.total], bottom: 0},
      grid: {left: 70, right: 30, top: 30, bottom: 50},
      xAxis: {type: 'time'},
      yAxis: {type: 'value', name: L.unit},
      series: [
        {name: L.completed, type: 'line', step: 'end', areaStyle: {opacity: 0.15}, data: points,
          itemStyle: {color: '#1e88e5'}},
        {name: L.total, type: 'line', symbol: 'none', lineStyle: {type: 'dotted', color: '#e53935'},
          itemStyle: {color: '#e53935'}, data: [[first, page.total], [last, page.total]]}]});
  }
})();
