// 5G base stations in service per district, over the Chongqing outlines (a choropleth).
(function () {
  'use strict';
  const page = cityhub.data();
  const el = document.getElementById('density-map');
  if (!el || !window.echarts) return;
  cityhub.chongqing().then((geo) => {
    if (!geo) { el.hidden = true; return; }
    const max = Math.max(10, ...page.districts.map((d) => d.value));
    cityhub.chart(el, {
      tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name + '：' + (p.value || 0))},
      visualMap: {min: 0, max: max, left: 10, bottom: 10, calculable: true,
        inRange: {color: ['#e3f2fd', '#64b5f6', '#1565c0', '#0d2c6b']}, itemHeight: 90},
      series: [{name: page.label, type: 'map', map: 'chongqing', roam: true, zoom: 1.1,
        label: {show: false}, emphasis: {label: {show: true}},
        itemStyle: {borderColor: '#7a9cc6', borderWidth: 0.6}, data: page.districts}]});
  }).catch(() => { el.hidden = true; });
})();
