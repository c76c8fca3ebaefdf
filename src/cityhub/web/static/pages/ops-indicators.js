// City indicators: one trend per indicator, its time axis in Beijing time whatever the browser's zone.
(function () {
  'use strict';
  const day = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit'});
  const full = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', hour12: false, year: 'numeric',
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'});
  Object.entries(cityhub.data().series).forEach(([id, data]) => {
    const el = document.getElementById('ind-' + id);
    const unit = el ? el.dataset.unit : '';
    cityhub.chart(el, {
      grid: {left: 8, right: 12, top: 10, bottom: 4, containLabel: true},
      tooltip: {trigger: 'axis', formatter: cityhub.tip((ps) => [full.format(new Date(ps[0].value[0])),
        ps[0].value[1] + (unit ? ' ' + unit : '')])},
      xAxis: {type: 'time', axisLabel: {hideOverlap: true, formatter: (ms) => day.format(new Date(ms))}},
      yAxis: {type: 'value', scale: true, splitNumber: 3},
      series: [{type: 'line', data: data, showSymbol: false, smooth: true}]});
  });
})();
