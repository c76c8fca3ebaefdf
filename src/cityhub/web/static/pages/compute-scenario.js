// A scenario run's chart: drainage — the five highest sections' levels, baseline (dashed) and scenario, against
// the threshold, with the rainfall as bars; traffic — the district road graph at the districts' places, closed roads
// red and dashed; dispatch — incidents per team against its capacity; staging — per overflowing section, when it
// overflows against when the staged crew (and the baseline's) arrives.
(function () {
  'use strict';
  const d = cityhub.data();
  const el = document.getElementById('scenario-chart');
  if (!d || !el) return;
  const r = d.result;
  const t = d.labels;
  if (d.kind === 'drainage') {
    const steps = (r.series[0] ? r.series[0].scenario.length : r.rain_scenario.length * 6);
    const x = Array.from({length: steps}, (_v, i) => (i * r.step_min / 60).toFixed(1) + ' h');
    const hourly = (rain) => x.map((_v, i) => rain[Math.min(rain.length - 1, Math.floor(i * r.step_min / 60))]);
    const series = [];
    r.series.forEach((s) => {
      series.push({name: s.name + ' · ' + t.baseline, type: 'line', data: s.baseline, showSymbol: false,
        lineStyle: {type: 'dashed', width: 1}});
      series.push({name: s.name + ' · ' + t.scenario, type: 'line', data: s.scenario, showSymbol: false});
    });
    if (series.length) {
      series[series.length - 1].markLine = {symbol: 'none', silent: true, lineStyle: {color: '#c0392b', type: 'dashed'},
        label: {position: 'insideEndTop', formatter: t.threshold + ' ' + r.threshold}, data: [{yAxis: r.threshold}]};
    }
    series.push({name: t.rain + ' · ' + t.scenario, type: 'bar', yAxisIndex: 1, data: hourly(r.rain_scenario),
      itemStyle: {opacity: 0.25}, barGap: '-100%'});
    cityhub.chart(el, {tooltip: {trigger: 'axis'}, legend: {type: 'scroll', top: 0},
      grid: {left: 8, right: 8, top: 64, bottom: 8, containLabel: true},
      xAxis: {type: 'category', data: x, axisLabel: {hideOverlap: true}},
      yAxis: [{type: 'value', name: t.level}, {type: 'value', name: t.rain, inverse: true, splitLine: {show: false}}],
      series: series});
  } else if (d.kind === 'traffic') {
    const closed = new Set(r.closures.map((c) => c.slice().sort().join('-')));
    cityhub.chart(el, {tooltip: {}, series: [{type: 'graph', layout: 'none', roam: true, label: {show: true,
      fontSize: 10}, symbolSize: 8,
      data: r.nodes.map((n) => ({name: n.name, id: n.code, x: n.lon, y: -n.lat})),
      links: r.edges.map((e) => {
        const cut = closed.has([e.from, e.to].sort().join('-'));
        return {source: e.from, target: e.to, value: e.minutes,
          lineStyle: cut ? {color: '#c0392b', type: 'dashed', width: 3} : {color: '#8aa4c8', width: 1}};
      })}]});
  } else if (d.kind === 'staging') {
    // per overflowing section: minutes until it overflows, and when the staged crew (and the baseline's) arrives
    const rows = r.sections.slice(0, 30);
    cityhub.chart(el, {tooltip: {trigger: 'axis'}, legend: {top: 0},
      grid: {left: 8, right: 8, top: 40, bottom: 8, containLabel: true},
      xAxis: {type: 'category', data: rows.map((s) => s.name), axisLabel: {rotate: rows.length > 6 ? 30 : 0}},
      yAxis: {type: 'value', name: t.minutes},
      series: [{name: t.deadline, type: 'bar', data: rows.map((s) => s.deadline_min), itemStyle: {opacity: 0.35}},
        {name: t.arrival, type: 'line', data: rows.map((s) => s.arrival_min), symbol: 'circle'},
        {name: t.baseline, type: 'line', data: rows.map((s) => s.naive_arrival_min), symbol: 'rect',
          lineStyle: {type: 'dashed'}}]});
  } else {
    const names = r.teams.map((team) => team.name);
    cityhub.chart(el, {tooltip: {trigger: 'axis'}, legend: {top: 0},
      grid: {left: 8, right: 8, top: 40, bottom: 8, containLabel: true},
      xAxis: {type: 'category', data: names}, yAxis: {type: 'value', minInterval: 1},
      series: [{name: t.load, type: 'bar', data: names.map((n) => r.load[n] || 0)},
        {name: t.capacity, type: 'line', data: r.teams.map((team) => team.capacity), symbol: 'rect'}]});
  }
})();
