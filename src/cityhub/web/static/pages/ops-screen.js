// The operations screen (大屏): draws the snapshot in #page-data, then each snapshot of the live stream, which
// reconnects by itself (backoff 1 s doubling to 30 s, with jitter) and shows when it is reconnecting.
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
  const size = (id) => { const el = document.getElementById(id); return {w: el.clientWidth, h: el.clientHeight}; };
  const fmt = new Intl.NumberFormat(document.documentElement.lang || 'zh-CN', {maximumFractionDigits: 2});
  const num = (v) => (v == null ? '—' : fmt.format(v));
  const shDay = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit'});
  const shTime = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit',
    minute: '2-digit', second: '2-digit'});
  const headroom = (v) => Math.max(1, Math.ceil(v.max * 1.25));

  function tick() {
    document.getElementById('clock').textContent =
      new Date().toLocaleString('zh-CN', {hour12: false, timeZone: 'Asia/Shanghai'});
  }
  setInterval(tick, 1000);
  tick();

  let mapReady = false;
  let last = null;
  cityhub.chongqing().then((geo) => {
    if (!geo) return;
    mapReady = true;
    draw(last);
  });

  function setText(id, value) { document.getElementById(id).textContent = value; }

  // The gauges: a 2 × 2 grid of cells, each dial sized to its cell, its value and unit in the gap below the
  // pivot, its name under the dial, truncated to the cell's width. The value block starts below the lowest point
  // the needle can reach (at either end of the 215°…-35° arc its tip is 0.62·r·sin 35° below the pivot) and ends
  // above the name; on a small screen (1366×768) the figures shrink to fit that gap rather than overlap the needle.
  function gauges(list) {
    const {w, h} = size('c-gauges');
    const cols = 2;
    const rows = Math.max(1, Math.ceil(list.length / cols));
    const cw = w / cols;
    const ch = h / rows;
    const r = Math.max(20, Math.min(cw / 2 - 8, (ch - 22) / 2 - 2));
    return list.map((g, i) => {
      const max = Math.max(g.critical || 0, g.warning || 0, g.target || 0, g.value || 0) * 1.25 || 100;
      const edge = (v) => (v == null ? null : Math.min(1, v / max));
      const bands = g.direction === 'lower'
        ? [[edge(g.warning) || 0.6, '#3fff9a'], [edge(g.critical) || 0.8, '#ffd21f'], [1, '#ff3b3b']]
        : [[edge(g.critical) || 0.2, '#ff3b3b'], [edge(g.warning) || 0.4, '#ffd21f'], [1, '#3fff9a']];
      const cx = cw * (i % cols) + cw / 2;
      const cy = ch * Math.floor(i / cols) + r + 4;
      const needleLow = 0.62 * r * Math.sin(35 * Math.PI / 180) + Math.max(2, r / 22) + 3;
      const nameTop = r + 14 - 7;
      const unitSize = (b) => Math.max(8, Math.round(b * 0.6));
      const blockH = (b) => (b + 2) + (g.unit ? unitSize(b) + 2 : 0);
      let big = Math.max(9, Math.min(18, Math.round(r / 3.6)));
      while (big > 8 && needleLow + blockH(big) > nameTop) big -= 1;
      const valueCenter = needleLow + blockH(big) / 2;
      return {type: 'gauge', center: [cx, cy], radius: r, min: 0, max: Math.round(max), splitNumber: 4,
        startAngle: 215, endAngle: -35,
        axisLine: {lineStyle: {width: Math.max(4, r / 9), color: bands}},
        pointer: {width: Math.max(2, r / 22), length: '62%', itemStyle: {color: '#9fd0ff'}},
        anchor: {show: true, size: Math.max(4, r / 9), itemStyle: {color: '#9fd0ff'}},
        axisTick: {show: false}, splitLine: {length: Math.max(3, r / 12), lineStyle: {color: '#fff'}},
        axisLabel: {show: false},
        title: {offsetCenter: [0, (r + 14) / r * 100 + '%'], color: '#9fd0ff', fontSize: 11,
          width: cw - 8, overflow: 'truncate'},
        detail: {offsetCenter: [0, valueCenter], valueAnimation: false, lineHeight: big + 2,
          formatter: () => '{v|' + num(g.value) + '}' + (g.unit ? '\n{u|' + g.unit + '}' : ''),
          rich: {v: {fontSize: big, color: '#fff', fontWeight: 600},
            u: {fontSize: unitSize(big), lineHeight: unitSize(big) + 2, color: '#9fb6dc', width: r * 1.3, overflow: 'truncate',
              align: 'center'}}},
        data: [{value: g.value == null ? 0 : g.value, name: g.name}]};
    });
  }

  // A funnel of stages reached: every incident was opened, fewer were dispatched, accepted, worked on, resolved,
  // closed; a reopened incident has been resolved once. Widest band first, whatever the counts.
  const STAGES = ['new', 'dispatched', 'accepted', 'in_progress', 'resolved', 'closed'];
  const RANK = {new: 0, dispatched: 1, accepted: 2, in_progress: 3, resolved: 4, reopened: 4, closed: 5};
  function funnel(counts) {
    const reached = STAGES.map((_s, i) => Object.entries(counts)
      .filter(([status]) => (RANK[status] ?? 0) >= i).reduce((acc, [, n]) => acc + n, 0));
    const colors = ['#ff8c1a', '#ffb347', '#3fb5ff', '#1e88e5', '#3fff9a', '#2e7d32'];
    return STAGES.map((k, i) => ({name: i === 0 ? L.all_incidents : L.status[k], value: reached[i],
      itemStyle: {color: colors[i]}}));
  }

  function draw(s) {
    if (!s) return;
    last = s;
    const a = s.alarms;
    setText('k-active', a.total_active);
    setText('k-critical', a.by_severity.critical || 0);
    setText('k-unack', a.unacknowledged);
    setText('k-open', s.open_incidents);
    setText('k-sla', s.sla_breaches);

    const sevW = size('c-severity').w;
    const sevNames = SEV.map((x) => L.severity[x]);
    // a label wider than its fifth of the panel (English "Indeterminate" at 1366 px) is tilted, not cut
    const textW = (n) => [...n].reduce((w, ch) => w + (ch.charCodeAt(0) > 0x2e80 ? 12 : 7), 0);  // 12 px font
    const sevTilt = sevNames.some((n) => textW(n) > sevW / 5 - 8);
    draw1('c-severity', {grid: {left: 6, right: 10, top: 22, bottom: 4, containLabel: true}, tooltip: {},
      xAxis: {type: 'category', data: sevNames, ...axis,
        axisLabel: {color: '#9fb6dc', interval: 0, rotate: sevTilt ? 30 : 0}},
      yAxis: {type: 'value', minInterval: 1, max: headroom, ...axis},
      series: [{type: 'bar', barWidth: '45%', label: {show: true, position: 'top', color: '#fff'},
        data: SEV.map((x) => ({value: a.by_severity[x] || 0,
          itemStyle: {color: color(x), borderRadius: [3, 3, 0, 0]}}))}]});

    const d = s.districts.slice(0, 8).reverse();
    draw1('c-district', {grid: {left: 6, right: 34, top: 6, bottom: 4, containLabel: true}, tooltip: {},
      xAxis: {type: 'value', minInterval: 1, max: headroom, ...axis, show: d.length > 0},
      yAxis: {type: 'category', data: d.map((x) => x.name), ...axis, show: d.length > 0,
        axisLabel: {color: '#9fb6dc', width: 80, overflow: 'break', lineHeight: 14}},  // "Shapingba District" wraps
      series: [{type: 'bar', data: d.map((x) => x.value), barMaxWidth: 22,
        label: {show: true, position: 'right', color: '#fff'},
        itemStyle: {color: {type: 'linear', x: 0, y: 0, x2: 1, y2: 0,
          colorStops: [{offset: 0, color: '#1e5fb4'}, {offset: 1, color: '#3fe0ff'}]}}}],
      graphic: d.length ? [] : [{type: 'text', left: 'center', top: 'middle',
        style: {text: L.no_alarms, fill: '#7f9ccc', fontSize: 14}}]}, false);

    draw1('c-gauges', {series: gauges(s.indicators.slice(0, 4))}, false);

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

    // indicators have different units: each is drawn as a percentage of its target (or of its own mean); the
    // legend sits under the chart, the axis name above the axis
    const trend = s.indicators.filter((x) => x.trend.length).slice(0, 5);
    draw1('c-trend', {legend: {type: 'scroll', bottom: 0, textStyle: {color: '#9fb6dc'},
      pageTextStyle: {color: '#9fb6dc'}, pageIconColor: '#9fd0ff', itemHeight: 8},
      tooltip: {trigger: 'axis', valueFormatter: (v) => v + ' %'},
      grid: {left: 8, right: 18, top: 26, bottom: 28, containLabel: true},
      xAxis: {type: 'time', ...axis, axisLabel: {color: '#9fb6dc', hideOverlap: true,
        formatter: (ms) => shDay.format(new Date(ms))}},
      yAxis: {type: 'value', scale: true, name: L.of_target, nameGap: 10,
        nameTextStyle: {color: '#9fb6dc', align: 'left'}, splitNumber: 3, ...axis},
      series: trend.map((t) => {
        const base = t.target || (t.trend.reduce((acc, p) => acc + p[1], 0) / t.trend.length) || 1;
        return {name: t.name, type: 'line', showSymbol: false, smooth: true,
          data: t.trend.map((p) => [p[0], +(p[1] / base * 100).toFixed(1)])};
      })}, false);

    draw1('c-funnel', {tooltip: {}, series: [{type: 'funnel', sort: 'none', left: '40%', width: '56%', top: 6,
      bottom: 6, minSize: '14%', gap: 2, labelLine: {show: true, length: 8, lineStyle: {color: '#3a5d94'}},
      label: {position: 'left', color: '#d8e6ff', formatter: (p) => p.name + '  ' + p.value},
      data: funnel(s.funnel)}]}, false);

    const feed = document.getElementById('feed');
    feed.replaceChildren(...s.recent_alarms.map((x) => {
      const li = document.createElement('li');
      const dot = document.createElement('span');
      dot.className = 'sev';
      dot.style.background = color(x.severity);
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = x.name + ' · ' + x.type + (x.count > 1 ? ' ×' + x.count : '');
      what.title = what.textContent;
      const when = document.createElement('span');
      when.className = 'when';
      when.textContent = shTime.format(new Date(x.at));
      li.append(dot, what, when);
      return li;
    }));
    if (!s.recent_alarms.length) {
      const li = document.createElement('li');
      li.className = 'when';
      li.textContent = L.no_alarms;
      feed.append(li);
    }
    const bottom = feed.getBoundingClientRect().bottom;  // no half-cut line at the bottom of the panel
    [...feed.children].forEach((li) => { li.hidden = li.getBoundingClientRect().bottom > bottom + 1; });

    forecasts(s);

    const sp = document.getElementById('sparks');
    if (sp.childElementCount !== s.sparklines.length) {
      sp.querySelectorAll('.chart').forEach((el) => {
        const c = window.echarts && window.echarts.getInstanceByDom(el);
        if (c) c.dispose();
      });
      sp.replaceChildren(...s.sparklines.map((x, i) => {
        const box = document.createElement('div');
        box.className = 'spark';
        const label = document.createElement('div');
        label.className = 'name';
        label.append(document.createElement('span'), document.createElement('b'));
        const el = document.createElement('div');
        el.className = 'chart';
        el.id = 'sp' + i;
        el.dataset.empty = L.no_data;
        box.append(label, el);
        return box;
      }));
    }
    s.sparklines.forEach((x, i) => {
      const box = sp.children[i];
      const [text, value] = box.firstChild.children;
      const lastPoint = x.data.length ? x.data[x.data.length - 1][1] : null;
      text.textContent = x.device + ' · ' + x.metric;
      text.title = text.textContent;
      value.textContent = lastPoint == null ? '' : num(lastPoint) + (x.unit ? ' ' + x.unit : '');
      box.classList.toggle('empty', !x.data.length);
      draw1('sp' + i, {grid: {left: 2, right: 2, top: 3, bottom: 3}, xAxis: {type: 'time', show: false},
        yAxis: {type: 'value', show: false, scale: true}, series: [{type: 'line', data: x.data, showSymbol: false,
          smooth: true, lineStyle: {color: '#3fe0ff', width: 1.5}, areaStyle: {color: 'rgba(63,224,255,.15)'}}]});
    });
  }

  // The active forecasts (预判预警): each series' forecast over its rule's horizon as a percentage of its threshold
  // (rules of different units share the chart), the 100 % line the threshold; the most urgent series' 95 % band.
  function forecasts(s) {
    const list = s.forecasts || [];
    setText('fc-errors', s.forecast_errors ? L.forecast_errors.replace('{n}', String(s.forecast_errors)) : '');
    const top = list[0];
    const series = list.map((f, i) => ({name: f.name + ' · ' + f.rule, type: 'line', showSymbol: false, data: f.line,
      lineStyle: {width: i === 0 ? 2.5 : 1.5, opacity: f.meets ? 1 : 0.7},  // dashes on a minute-by-minute line read as noise
      itemStyle: {color: f.active ? color('critical') : f.meets ? color('major') : ['#3fe0ff', '#3fff9a', '#9fd0ff'][i % 3]},
      markLine: i === 0 ? {silent: true, symbol: 'none', label: {color: '#ff8c8c', formatter: '100 %'},
        lineStyle: {color: color('critical'), type: 'dashed'}, data: [{yAxis: 100}]} : undefined}));
    if (top) {
      series.push({name: L.band, type: 'line', data: top.lower, stack: 'band', lineStyle: {opacity: 0}, symbol: 'none',
        silent: true, tooltip: {show: false}});
      series.push({name: L.band, type: 'line', data: top.band, stack: 'band', lineStyle: {opacity: 0}, symbol: 'none',
        silent: true, tooltip: {show: false}, areaStyle: {color: 'rgba(255,140,26,.18)'}});
    }
    draw1('c-forecast', {
      legend: {type: 'scroll', bottom: 0, textStyle: {color: '#9fb6dc'}, pageTextStyle: {color: '#9fb6dc'},
        pageIconColor: '#9fd0ff', itemHeight: 8, data: list.map((f) => f.name + ' · ' + f.rule)},
      tooltip: {trigger: 'axis', valueFormatter: (v) => (v == null ? '—' : v + ' %')},
      grid: {left: 8, right: 18, top: 24, bottom: 26, containLabel: true},
      xAxis: {type: 'time', ...axis, axisLabel: {color: '#9fb6dc', hideOverlap: true,
        formatter: (ms) => shTime.format(new Date(ms)).slice(0, 5)}},
      yAxis: {type: 'value', scale: true, name: L.of_threshold, nameGap: 8, splitNumber: 3,
        nameTextStyle: {color: '#9fb6dc', align: 'left'}, ...axis},
      series: series,
      graphic: list.length ? [] : [{type: 'text', left: 'center', top: 'middle',
        style: {text: L.no_forecasts, fill: '#7f9ccc', fontSize: 14}}]}, false);
  }

  // The latest scenario run the viewer reads (仿真推演), from the compute API, refreshed every minute.
  function scenario() {
    fetch('/api/v1/compute/scenarios?limit=1', {headers: {Accept: 'application/json'}, credentials: 'same-origin'})
      .then((r) => (r.ok ? r.json() : null)).then((body) => {
        const el = document.getElementById('scenario-line');
        const run = body && body.items && body.items[0];
        if (!run) { el.replaceChildren(); return; }
        const r = run.result || {};
        const facts = {drainage: [r.exceed_baseline, r.exceed_scenario], traffic: [r.pairs_slower, r.pairs],
          dispatch: [r.total_min, r.greedy_total_min]}[run.kind] || [];
        const a = document.createElement('a');
        a.href = '/compute/scenarios/' + encodeURIComponent(run.id);
        a.textContent = run.name;
        const when = shDay.format(new Date(run.created_at)) + ' ' + shTime.format(new Date(run.created_at)).slice(0, 5);
        const what = (L[run.kind] || '').replace('{a}', num(facts[0])).replace('{b}', num(facts[1]));
        el.replaceChildren(L.scenario + '：', a, ' · ' + (L.scenario_kinds[run.kind] || '') + ' · ' + what + ' · ' + when);
        el.title = el.textContent;
      }).catch(() => {});
  }
  scenario();
  setInterval(scenario, 60000);

  draw(page.snap);
  let resizeTimer = null;
  window.addEventListener('resize', () => {  // the gauges' layout follows their panel
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => draw(last), 200);
  });

  // ---- the live stream (cityhub.live: server-sent events that reconnect by themselves)
  const district = new URLSearchParams(location.search).get('district_id');
  cityhub.live('/ops/screen/stream' + (district ? '?district_id=' + encodeURIComponent(district) : ''),
    document.getElementById('live'), {snapshot: draw}, ((page.refresh_s || 5) * 3 + 5) * 1000);
})();
