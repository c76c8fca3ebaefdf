// Saved analysis: chart the run's answer; while the run is running, the page reloads itself every two seconds.
// line / bar: the first column along the x axis, each numeric column a series.
// map: the first column a district of Chongqing (its name, or its six-digit code), the first numeric column the
//      value shaded on the district outlines.
// heatmap: the first two columns the x and y categories, the first numeric column after them the value.
(function () {
  'use strict';
  const d = cityhub.data();
  if (d.status === 'running') {
    window.setTimeout(function () { window.location.reload(); }, 2000);
    return;
  }
  if (d.chart === 'table' || !d.columns.length || !document.getElementById('analysis-chart')) {
    return;
  }
  const numeric = (from) => d.columns.findIndex((_c, i) => i >= from && d.records.some((r) => typeof r[i] === 'number'));
  const values = (i) => d.records.map((r) => r[i]).filter((v) => typeof v === 'number');

  if (d.chart === 'map') {
    const vi = numeric(1);
    if (vi < 0) { return; }
    const ALIASES = {'梁平县': '梁平区', '武隆县': '武隆区'};  // the outlines predate 2016
    const names = d.district_names || {};
    const data = d.records.map((r) => ({name: names[String(r[0])] || String(r[0]), value: r[vi]}));
    fetch('/static/vendor/chongqing.geojson').then((r) => (r.ok ? r.json() : null)).then((geo) => {
      if (!geo || !window.echarts) { return; }
      geo.features.forEach((f) => { f.properties.name = ALIASES[f.properties.name] || f.properties.name; });
      window.echarts.registerMap('chongqing', geo);
      const vs = values(vi);
      cityhub.chart('analysis-chart', {
        tooltip: {trigger: 'item', formatter: cityhub.tip((p) => [p.name, d.columns[vi] + '：' + (p.value ?? '—')])},
        visualMap: {min: Math.min(0, ...vs), max: Math.max(1, ...vs), left: 10, bottom: 10, calculable: true,
          text: [d.columns[vi], '']},
        series: [{type: 'map', map: 'chongqing', roam: true, data: data, label: {show: false},
          emphasis: {label: {show: true}}}],
      });
    }).catch(() => {});
    return;
  }

  if (d.chart === 'heatmap') {
    const vi = numeric(2);
    if (vi < 0 || d.columns.length < 3) { return; }
    const xs = [...new Set(d.records.map((r) => String(r[0])))];
    const ys = [...new Set(d.records.map((r) => String(r[1])))];
    const vs = values(vi);
    cityhub.chart('analysis-chart', {
      tooltip: {position: 'top', formatter: cityhub.tip((p) => [xs[p.data[0]] + ' · ' + ys[p.data[1]],
        d.columns[vi] + '：' + p.data[2]])},
      grid: {left: 96, right: 24, top: 16, bottom: 90},
      xAxis: {type: 'category', data: xs, splitArea: {show: true}, axisLabel: {rotate: xs.length > 12 ? 30 : 0}},
      yAxis: {type: 'category', data: ys, splitArea: {show: true}},
      visualMap: {min: Math.min(...vs), max: Math.max(...vs), calculable: true, orient: 'horizontal', left: 'center',
        bottom: 0},
      series: [{type: 'heatmap', data: d.records.map((r) => [xs.indexOf(String(r[0])), ys.indexOf(String(r[1])), r[vi]]),
        label: {show: xs.length * ys.length <= 150}}],
    });
    return;
  }

  const x = d.records.map((r) => r[0]);
  const series = [];
  d.columns.forEach(function (name, i) {
    if (i === 0) { return; }
    if (!d.records.some((r) => typeof r[i] === 'number')) { return; }
    series.push({name: name, type: d.chart, data: d.records.map((r) => r[i]), showSymbol: d.records.length < 60});
  });
  cityhub.chart('analysis-chart', {
    tooltip: {trigger: 'axis'}, legend: {top: 0},
    grid: {left: 56, right: 24, top: 32, bottom: 60},
    xAxis: {type: 'category', data: x, axisLabel: {rotate: x.length > 12 ? 30 : 0}},
    yAxis: {type: 'value'},
    series: series,
  });
})();
