// The operations screen (大屏): draws the snapshot in #page-data, then each snapshot of the live stream.
(function () {
  'use strict';
  const page = cityhub.data();
  const L = page.labels;
  const SEV = ['critical', 'major', 'minor', 'warning', 'indeterminate'];
  const css = getComputedStyle(document.documentElement);
  const color = (s) => css.getPropertyValue('--' + s).trim() || '#9aa7bd';
  const axis = {axisLine: {lineStyle: {color: '#3a5d94'}}, axisLabel: {color: '#9fb6dc'},
    splitLine: {lineStyle: {color: 'rgba(58,93,148,.35)'}}};
  const draw1 = (id, option, merge) => cityhub.chart(id, option, {renderer: 'canvas', merge: merge !== false});

  function tick() {
    document.getElementById('clock').textContent =
      new Date().toLocaleString('zh-CN', {hour12: false, timeZone: 'Asia/Shanghai'});
  }
  setInterval(tick, 1000);
  tick();

  let mapReady = false;
  let last = null;
  const ALIASES = {'梁平县': '梁平区', '武隆县': '武隆区'};  // the outlines predate 2016
  fetch('/static/vendor/chongqing.geojson').then((r) => (r.ok ? r.json() : null)).then((geo) => {
    if (!geo || !window.echarts) return;
    geo.features.forEach((f) => { f.properties.name = ALIASES[f.properties.name] || f.properties.name; });
    window.echarts.registerMap('chongqing', geo);
    mapReady = true;
    draw(last);
  }).catch(() => {});

  function setText(id, value) { document.getElementById(id).textContent = value; }

  function draw(s) {
    if (!s) return;
    last = s;
    const a = s.alarms;
    setText('k-active', a.total_active);
    setText('k-critical', a.by_severity.critical || 0);
    setText('k-unack', a.unacknowledged);
    setText('k-open', s.open_incidents);
    setText('k-sla', s.sla_breaches);

    draw1('c-severity', {grid: {left: 40, right: 16, top: 12, bottom: 26}, tooltip: {},
      xAxis: {type: 'category', data: SEV.map((x) => L.severity[x]), ...axis},
      yAxis: {type: 'value', minInterval: 1, ...axis},
      series: [{type: 'bar', barWidth: '45%', label: {show: true, position: 'top', color: '#fff'},
        data: SEV.map((x) => ({value: a.by_severity[x] || 0,
          itemStyle: {color: color(x), borderRadius: [3, 3, 0, 0]}}))}]});

    const d = s.districts.slice(0, 10).reverse();
    draw1('c-district', {grid: {left: 90, right: 30, top: 6, bottom: 20}, tooltip: {},
      xAxis: {type: 'value', minInterval: 1, ...axis}, yAxis: {type: 'category', data: d.map((x) => x.name), ...axis},
      series: [{type: 'bar', data: d.map((x) => x.value), barWidth: '55%',
        label: {show: true, position: 'right', color: '#fff'},
        itemStyle: {color: {type: 'linear', x: 0, y: 0, x2: 1, y2: 0,
          colorStops: [{offset: 0, color: '#1e5fb4'}, {offset: 1, color: '#3fe0ff'}]}}}],
      graphic: d.length ? [] : [{type: 'text', left: 'center', top: 'middle',
        style: {text: L.no_alarms, fill: '#7f9ccc', fontSize: 14}}]});

    draw1('c-gauges', {series: s.indicators.slice(0, 4).map((g, i) => {
      const max = Math.max(g.critical || 0, g.warning || 0, g.target || 0, g.value || 0) * 1.25 || 100;
      const edge = (v) => (v == null ? null : Math.min(1, v / max));
      const bands = g.direction === 'lower'
        ? [[edge(g.warning) || 0.6, '#3fff9a'], [edge(g.critical) || 0.8, '#ffd21f'], [1, '#ff3b3b']]
        : [[edge(g.critical) || 0.2, '#ff3b3b'], [edge(g.warning) || 0.4, '#ffd21f'], [1, '#3fff9a']];
      return {type: 'gauge', center: [(i % 2 ? 75 : 25) + '%', (i < 2 ? 30 : 78) + '%'], radius: '42%', min: 0,
        max: Math.round(max), splitNumber: 4, axisLine: {lineStyle: {width: 7, color: bands}}, pointer: {width: 3},
        axisTick: {show: false}, splitLine: {length: 6, lineStyle: {color: '#fff'}}, axisLabel: {show: false},
        title: {offsetCenter: [0, '92%'], color: '#9fd0ff', fontSize: 11},
        detail: {fontSize: 15, color: '#fff', offsetCenter: [0, '45%'],
          formatter: (v) => (v == null ? '—' : v) + ' ' + (g.unit || '')},
        data: [{value: g.value == null ? 0 : g.value, name: g.name}]};
    })}, false);

    if (mapReady) {
      const byName = {};
      s.districts.forEach((x) => { byName[x.name] = x.value; });
      draw1('c-map', {
        // names, alarm types and profiles are user-written: cityhub.tip escapes each line
        tooltip: {trigger: 'item', formatter: cityhub.tip((p) => (p.seriesType === 'map'
          ? p.name + '：' + (p.value || 0)
          : [p.data.name, p.data.type || p.data.profile || '']))},
        visualMap: {min: 0, max: Math.max(5, ...s.districts.map((x) => x.value)), seriesIndex: 0, left: 10, bottom: 10,
          calculable: false, inRange: {color: ['#0b3474', '#1a5fb4', '#ff8c1a', '#ff3b3b']},
          textStyle: {color: '#9fb6dc'}, itemHeight: 80},
        geo: {map: 'chongqing', roam: true, zoom: 1.15, label: {show: false},
          itemStyle: {areaColor: '#0b3474', borderColor: '#3fb5ff', borderWidth: 0.8},
          emphasis: {itemStyle: {areaColor: '#1e5fb4'}, label: {show: true, color: '#fff'}}},
        series: [
          {type: 'map', map: 'chongqing', geoIndex: 0,
            data: Object.entries(byName).map(([name, value]) => ({name, value}))},
          {name: 'devices', type: 'scatter', coordinateSystem: 'geo', symbolSize: 3,
            itemStyle: {color: 'rgba(120,220,255,.55)'}, data: s.devices, silent: true},
          {name: 'alarms', type: 'effectScatter', coordinateSystem: 'geo', rippleEffect: {scale: 3, brushType: 'stroke'},
            symbolSize: 8, data: s.alarm_points.map((x) => ({...x, itemStyle: {color: color(x.severity)}})), zlevel: 2},
        ]});
    }

    // indicators have different units: each is drawn as a percentage of its target (or of its own mean)
    const trend = s.indicators.filter((x) => x.trend.length).slice(0, 5);
    draw1('c-trend', {legend: {textStyle: {color: '#9fb6dc'}, top: 0},
      tooltip: {trigger: 'axis', valueFormatter: (v) => v + ' %'},
      grid: {left: 46, right: 20, top: 30, bottom: 22}, xAxis: {type: 'time', ...axis},
      yAxis: {type: 'value', scale: true, name: L.of_target, nameTextStyle: {color: '#9fb6dc'}, ...axis},
      series: trend.map((t) => {
        const base = t.target || (t.trend.reduce((acc, p) => acc + p[1], 0) / t.trend.length) || 1;
        return {name: t.name, type: 'line', showSymbol: false, smooth: true,
          data: t.trend.map((p) => [p[0], +(p[1] / base * 100).toFixed(1)])};
      })}, false);

    const order = ['new', 'dispatched', 'accepted', 'in_progress', 'resolved', 'closed'];
    const funnelColors = ['#ff8c1a', '#ffb347', '#3fb5ff', '#1e88e5', '#3fff9a', '#2e7d32'];
    draw1('c-funnel', {tooltip: {}, series: [{type: 'funnel', sort: 'none', left: '8%', width: '84%', top: 6,
      bottom: 6, minSize: '18%', gap: 2, label: {color: '#fff', formatter: (p) => p.name + ' ' + p.value},
      data: order.map((k, i) => ({name: L.status[k], value: s.funnel[k] || 0, itemStyle: {color: funnelColors[i]}}))}]});

    const feed = document.getElementById('feed');
    feed.replaceChildren(...s.recent_alarms.map((x) => {
      const li = document.createElement('li');
      const dot = document.createElement('span');
      dot.className = 'sev';
      dot.style.background = color(x.severity);
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = x.name + ' · ' + x.type + (x.count > 1 ? ' ×' + x.count : '');
      const when = document.createElement('span');
      when.className = 'when';
      when.textContent = new Date(x.at).toLocaleTimeString('zh-CN', {hour12: false, timeZone: 'Asia/Shanghai'});
      li.append(dot, what, when);
      return li;
    }));
    if (!s.recent_alarms.length) {
      const li = document.createElement('li');
      li.className = 'when';
      li.textContent = L.no_alarms;
      feed.append(li);
    }

    const sp = document.getElementById('sparks');
    if (sp.childElementCount !== s.sparklines.length) {
      sp.querySelectorAll('.chart').forEach((el) => {
        const c = window.echarts && window.echarts.getInstanceByDom(el);
        if (c) c.dispose();
      });
      sp.replaceChildren(...s.sparklines.map((x, i) => {
        const box = document.createElement('div');
        box.className = 'spark';
        const label = document.createElement('span');
        const el = document.createElement('div');
        el.className = 'chart';
        el.id = 'sp' + i;
        box.append(label, el);
        return box;
      }));
    }
    s.sparklines.forEach((x, i) => {
      sp.children[i].firstChild.textContent = x.device + ' · ' + x.key;
      draw1('sp' + i, {grid: {left: 2, right: 2, top: 4, bottom: 2}, xAxis: {type: 'time', show: false},
        yAxis: {type: 'value', show: false, scale: true}, series: [{type: 'line', data: x.data, showSymbol: false,
          smooth: true, lineStyle: {color: '#3fe0ff', width: 1.5}, areaStyle: {color: 'rgba(63,224,255,.15)'}}]});
    });
  }

  draw(page.snap);
  const district = new URLSearchParams(location.search).get('district_id');
  if (window.EventSource) {
    const es = new EventSource('/ops/screen/stream' + (district ? '?district_id=' + encodeURIComponent(district) : ''));
    const live = document.getElementById('live');
    es.addEventListener('snapshot', (e) => { live.classList.remove('off'); draw(JSON.parse(e.data)); });
    es.onerror = () => live.classList.add('off');
  }
})();
