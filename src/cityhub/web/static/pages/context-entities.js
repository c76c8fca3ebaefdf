// The entities of a type with a point location, over the Chongqing district outlines.
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('entity-map');
  if (!el || !window.echarts || !page) return;
  cityhub.chongqing().then((geo) => {
    if (!geo) { el.hidden = true; return; }
    cityhub.chart(el, {
      tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name)},
      geo: {map: 'chongqing', roam: true, zoom: 1.1, label: {show: false}, emphasis: {label: {show: true}},
        itemStyle: {areaColor: '#eef3fa', borderColor: '#7a9cc6', borderWidth: 0.6}},
      series: [{type: 'scatter', coordinateSystem: 'geo', symbolSize: 8, itemStyle: {color: '#1565c0'},
        data: page.points}]});
  }).catch(() => { el.hidden = true; });
})();
