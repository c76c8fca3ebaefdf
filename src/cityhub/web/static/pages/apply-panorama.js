// The 全景 screen: draws every panel from the page's first reading, then redraws on each reading the server pushes.
(function () {
  'use strict';
  const page = cityhub.data();
  const L = page.labels;
  const W = page.words;
  const AXIS = {axisLine: {lineStyle: {color: '#3d6aa8'}}, axisLabel: {color: '#9fb7df'},
    splitLine: {lineStyle: {color: 'rgba(61,106,168,.25)'}}};
  const ALIASES = {'梁平县': '梁平区', '武隆县': '武隆区'};  // the outlines predate 2016
  const live = document.getElementById('live');
  let mapReady = false;

  function pick(obj, path) {
    return path.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);
  }

  function figures(d) {
    document.querySelectorAll('[data-k]').forEach((el) => {
      const v = pick(d, el.dataset.k);
      if (v == null) { el.textContent = '—'; return; }
      el.textContent = el.hasAttribute('data-pct') ? (v * 100).toFixed(1) + '%' : Number(v).toLocaleString();
    });
  }

  function gauge(name, value, center) {
    const none = value == null;
    return {type: 'gauge', center: center, radius: '46%', min: 0, max: 100, startAngle: 210, endAngle: -30,
      progress: {show: true, width: 8}, axisLine: {lineStyle: {width: 8, color: [[1, 'rgba(61,106,168,.35)']]}},
      axisTick: {show: false}, splitLine: {show: false}, axisLabel: {show: false}, pointer: {show: false},
      title: {offsetCenter: [0, '78%'], color: '#9fb7df', fontSize: 12},
      detail: {offsetCenter: [0, 0], formatter: none ? '—' : '{value}%', color: '#fff', fontSize: 20},
      data: [{name: name, value: Math.round((value || 0) * 1000) / 10}]};
  }

  function bars(el, names, values, color, horizontal) {
    const cat = Object.assign({type: 'category', data: names}, AXIS);
    const val = Object.assign({type: 'value', minInterval: 1}, AXIS);
    cityhub.chart(el, {tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      grid: {left: horizontal ? 110 : 40, right: 20, top: 14, bottom: 24},
      xAxis: horizontal ? val : cat, yAxis: horizontal ? Object.assign(cat, {inverse: true}) : val,
      series: [{type: 'bar', data: values, barMaxWidth: 22, itemStyle: {color: color}}]});
  }

  function unavailable(id) {
    cityhub.chart(id, {title: {text: L.unavailable, left: 'center', top: 'middle',
      textStyle: {color: '#7f9ccc', fontSize: 14}}});
  }

  function draw(d) {
    figures(d);
    if (d.cloud) {
      cityhub.chart('c-cloud', {series: [gauge(L.on_cloud, d.cloud.on_cloud, ['17%', '50%']),
        gauge(L.integration_city, d.cloud.integration_city, ['50%', '50%']),
        gauge(L.integration_district, d.cloud.integration_district, ['83%', '50%'])]});
    } else unavailable('c-cloud');
    if (d.data) {
      bars('c-data', [L.published, L.shared, L.opened],
        [d.data.entries_published, d.data.entries_shared, d.data.entries_opened], '#3fb5ff', true);
    } else unavailable('c-data');
    if (d.compute) {
      const en = document.documentElement.lang === 'en';
      bars('c-compute', d.compute.top.map((t) => (en ? t.name_en : t.name)), d.compute.top.map((t) => t.value),
        '#7c4dff', true);
    } else unavailable('c-compute');
    const batches = d.apply.scenarios;
    cityhub.chart('c-scenarios', {tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      legend: {top: 0, textStyle: {color: '#9fb7df'}}, grid: {left: 40, right: 20, top: 30, bottom: 24},
      xAxis: Object.assign({type: 'category', data: batches.map((b) => W.batches[b.batch] || b.batch)}, AXIS),
      yAxis: Object.assign({type: 'value', minInterval: 1}, AXIS),
      series: [{name: L.declared, type: 'bar', data: batches.map((b) => b.total), itemStyle: {color: 'rgba(63,181,255,.35)'},
        barGap: '-100%', barMaxWidth: 36},
      {name: L.delivered, type: 'bar', data: batches.map((b) => b.delivered), itemStyle: {color: '#3fff9a'}, barMaxWidth: 36,
        markLine: {symbol: 'none', data: [{yAxis: 10}], lineStyle: {color: '#ffd21f', type: 'dashed'}, label: {color: '#ffd21f'}}}]});
    const layers = Object.keys(W.layers).filter((k) => d.apply.targets[k]);
    const colors = {green: '#3fff9a', amber: '#ffd21f', red: '#ff3b3b', none: '#6b7a99'};
    cityhub.chart('c-targets', {tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      legend: {top: 0, itemWidth: 12, itemHeight: 8, textStyle: {color: '#9fb7df', fontSize: 11}},
      grid: {left: 40, right: 16, top: 44, bottom: 20},
      xAxis: Object.assign({type: 'value', minInterval: 1}, AXIS),
      yAxis: Object.assign({type: 'category', data: layers.map((k) => W.layers[k] || k), inverse: true}, AXIS),
      series: ['green', 'amber', 'red', 'none'].map((s) => ({name: L[s], type: 'bar', stack: 'rag',
        data: layers.map((k) => d.apply.targets[k][s] || 0), itemStyle: {color: colors[s]}, barMaxWidth: 18}))});
    if (d.ops) {
      const sev = {critical: '#ff3b3b', major: '#ff8c1a', minor: '#ffd21f', warning: '#3fb5ff', indeterminate: '#9aa7bd'};
      cityhub.chart('c-ops', {tooltip: {trigger: 'item'}, series: [{type: 'pie', radius: ['45%', '72%'],
        label: {color: '#d8e6ff'}, data: Object.entries(d.ops.by_severity).map(([k, v]) => (
          {name: W.severity[k] || k, value: v, itemStyle: {color: sev[k] || '#9aa7bd'}}))}]});
    } else unavailable('c-ops');
    if (d.connect && mapReady) {
      const max = Math.max(10, ...d.connect.districts.map((x) => x.value));
      cityhub.chart('c-map', {tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name + '：' + (p.value || 0))},
        visualMap: {min: 0, max: max, left: 10, bottom: 10, calculable: true, textStyle: {color: '#9fb7df'},
          inRange: {color: ['#0b2f66', '#1565c0', '#3fb5ff', '#b3e5ff']}, itemHeight: 90},
        series: [{name: L.stations, type: 'map', map: 'chongqing', roam: false, zoom: 1.15,
          label: {show: false}, emphasis: {label: {show: true, color: '#fff'}},
          itemStyle: {borderColor: '#3fb5ff', borderWidth: 0.6, areaColor: '#0b2f66'}, data: d.connect.districts}]}, {merge: true});
    }
  }

  function tick() {
    const now = new Date();
    document.getElementById('clock').textContent = cityhub.timeText(now.getTime(), {seconds: true, year: true});
  }

  function show(d) {  // the figures always; the charts when ECharts is there
    figures(d);
    if (window.echarts) draw(d);
  }

  tick();
  setInterval(tick, 1000);
  show(page.data);
  if (window.echarts) {
    fetch('/static/vendor/chongqing.geojson').then((r) => (r.ok ? r.json() : null)).then((geo) => {
      if (!geo) return;
      geo.features.forEach((f) => { f.properties.name = ALIASES[f.properties.name] || f.properties.name; });
      window.echarts.registerMap('chongqing', geo);
      mapReady = true;
      draw(page.data);
    }).catch(() => {});
  }
  // live: the figures come over server-sent events each time the worker stores a new reading (cityhub.live)
  cityhub.live('/apply/panorama/stream', live, {snapshot: (d) => { page.data = d; show(d); }, alive: () => {}},
    page.quiet_s * 1000);
})();
