// Entities with a location over the Chongqing district outlines: points as dots, Polygon and MultiPolygon
// GeoProperties as filled areas (their outer rings). Used by the entity list and by one entity's page.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('entity-map');
  if (!el || !window.echarts || !page) return;
  const points = page.points || [];
  const shapes = page.shapes || [];
  cityhub.chongqing().then((geo) => {
    if (!geo) { el.hidden = true; return; }
    const series = [];
    if (shapes.length) {
      series.push({type: 'custom', coordinateSystem: 'geo', name: 'areas',
        data: shapes.map((s, i) => ({name: s.name, value: i})),
        renderItem: (params, api) => ({type: 'group', children: shapes[params.dataIndex].rings.map((ring) => ({
          type: 'polygon', shape: {points: ring.map((c) => api.coord(c))},
          style: {fill: 'rgba(21, 101, 192, 0.28)', stroke: '#0d47a1', lineWidth: 1.5}}))})});
    }
    if (points.length) {
      series.push({type: 'scatter', coordinateSystem: 'geo', symbolSize: 8, itemStyle: {color: '#1565c0'},
        data: points});
    }
    // centre on what is drawn and zoom to it (a city block's polygon is invisible at the whole city's scale)
    const coords = points.map((p) => p.value).concat(...shapes.map((s) => [].concat(...s.rings)));
    const lons = coords.map((c) => c[0]), lats = coords.map((c) => c[1]);
    const span = Math.max(Math.max(...lons) - Math.min(...lons), Math.max(...lats) - Math.min(...lats), 0.02);
    const view = coords.length ? {center: [(Math.max(...lons) + Math.min(...lons)) / 2,
      (Math.max(...lats) + Math.min(...lats)) / 2], zoom: Math.min(24, Math.max(1.1, 2 / span))} : {zoom: 1.1};
    cityhub.chart(el, {
      tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name)},
      geo: Object.assign({map: 'chongqing', roam: true, label: {show: false}, emphasis: {label: {show: true}},
        itemStyle: {areaColor: '#eef3fa', borderColor: '#7a9cc6', borderWidth: 0.6}}, view),
      series: series});
  }).catch(() => { el.hidden = true; });
})();
