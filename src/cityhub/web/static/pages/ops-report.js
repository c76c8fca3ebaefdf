// Report a problem: a map of Chongqing's districts to click where it happened (fills longitude and latitude and
// names the district), typing coordinates moves the marker, and "use my location" asks the browser.
(function () {
  'use strict';
  const lon = document.getElementById('lon');
  const lat = document.getElementById('lat');
  const el = document.getElementById('map-picker');
  const picked = document.getElementById('picked');
  let chart = null;

  function show(point, district) {
    if (!chart) return;
    cityhub.chart(el, {series: [{id: 'point', data: point ? [point] : []}]}, {merge: true});
    if (picked) picked.textContent = point ? (el.dataset.picked + '：' + (district ? district + ' · ' : '') +
      point[0].toFixed(5) + ', ' + point[1].toFixed(5)) : '';
  }

  function regionAt(point) {
    const geo = chart && chart.getModel().getComponent('geo');
    const region = geo && geo.coordinateSystem && geo.coordinateSystem.getRegionByCoord
      ? geo.coordinateSystem.getRegionByCoord(point) : null;
    return region ? region.name : '';
  }

  function typed() {
    const p = [parseFloat(lon.value), parseFloat(lat.value)];
    if (Number.isFinite(p[0]) && Number.isFinite(p[1])) show(p, regionAt(p));
  }

  if (el && window.echarts) {
    cityhub.chongqing().then((geo) => {
      if (!geo) { el.hidden = true; return; }
      chart = cityhub.chart(el, {
        tooltip: {trigger: 'item', formatter: cityhub.tip((p) => p.name)},
        geo: {map: 'chongqing', roam: true, zoom: 1.1, scaleLimit: {min: 1, max: 40},
          itemStyle: {areaColor: '#e8eef8', borderColor: '#7a9cc6', borderWidth: 0.8},
          emphasis: {itemStyle: {areaColor: '#cfe0f7'}, label: {show: true, color: '#1f3b63'}},
          select: {disabled: true}},
        series: [{id: 'point', type: 'scatter', coordinateSystem: 'geo', symbol: 'pin', symbolSize: 30,
          symbolOffset: [0, '-50%'],
          itemStyle: {color: '#d93025'}, data: [], silent: true, zlevel: 2}]});
      chart.getZr().on('click', (e) => {
        const p = chart.convertFromPixel({geoIndex: 0}, [e.offsetX, e.offsetY]);
        if (!p || !Number.isFinite(p[0])) return;
        lon.value = p[0].toFixed(5);
        lat.value = p[1].toFixed(5);
        show(p, regionAt(p));
      });
      typed();
    }).catch(() => { el.hidden = true; });
  }
  [lon, lat].forEach((input) => input && input.addEventListener('change', typed));

  const button = document.querySelector('[data-geolocate]');
  if (!button || !navigator.geolocation) return;
  button.addEventListener('click', () => navigator.geolocation.getCurrentPosition((p) => {
    lon.value = p.coords.longitude.toFixed(5);
    lat.value = p.coords.latitude.toFixed(5);
    typed();
  }));
})();
