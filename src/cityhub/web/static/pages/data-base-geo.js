// The 自然资源和空间地理 base database's golden records over the Chongqing district outlines: points as dots,
// areas (outer rings) filled, lines drawn; a click looks the record up (?key=…). Data: #page-data {points, shapes}.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('base-geo-map');
  if (!el || !window.echarts || !page) return;
  const points = page.points || [];
  const shapes = page.shapes || [];
  const focus = page.focus;
  cityhub.chongqing().then((geo) => {
    if (!geo) { el.hidden = true; return; }
    const series = [];
    if (shapes.length) {
      series.push({type: 'custom', coordinateSystem: 'geo', name: 'areas',
        data: shapes.map((s, i) => ({name: s.name, key: s.key, value: i})),
        renderItem: (params, api) => ({type: 'group', children: shapes[params.dataIndex].rings.map((ring) => ({
          type: 'polygon', shape: {points: ring.map((c) => api.coord(c))},
          style: {fill: 'rgba(46, 125, 50, 0.35)', stroke: '#1b5e20', lineWidth: 1.5}})).concat(
          shapes[params.dataIndex].lines.map((line) => ({
            type: 'polyline', shape: {points: line.map((c) => api.coord(c))},
            style: {fill: null, stroke: '#6a1b9a', lineWidth: 2}})))})});
    }
    if (points.length) {
      series.push({type: 'scatter', coordinateSystem: 'geo', symbolSize: 9, itemStyle: {color: '#1565c0'},
        data: points.map((p) => ({name: p.name, key: p.key, value: p.value,
          itemStyle: p.key === focus ? {color: '#e65100'} : undefined, symbolSize: p.key === focus ? 16 : 9}))});
    }
    // the whole extent, or the record looked up (?key=…), highlighted
    const shown = (x) => !focus || x.key === focus;
    const coords = points.filter(shown).map((p) => p.value).concat(
      ...shapes.filter(shown).map((s) => [].concat(...s.rings, ...s.lines)));
    const lons = coords.map((c) => c[0]), lats = coords.map((c) => c[1]);
    const span = Math.max(Math.max(...lons) - Math.min(...lons), Math.max(...lats) - Math.min(...lats), 0.02);
    const view = coords.length ? {center: [(Math.max(...lons) + Math.min(...lons)) / 2,
      (Math.max(...lats) + Math.min(...lats)) / 2], zoom: Math.min(24, Math.max(1.1, 2 / span))} : {zoom: 1.1};
    const chart = cityhub.chart(el, {
      tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name)},
      geo: Object.assign({map: 'chongqing', roam: true, label: {show: false}, emphasis: {label: {show: true}},
        itemStyle: {areaColor: '#eef3fa', borderColor: '#7a9cc6', borderWidth: 0.6}}, view),
      series: series});
    if (chart && chart.on) {
      chart.on('click', (p) => {
        const key = p.data && p.data.key;
        if (key) window.location.search = '?key=' + encodeURIComponent(key);
      });
    }
  }).catch(() => { el.hidden = true; });
})();
