// City indicators: one sparkline per indicator.
(function () {
  'use strict';
  Object.entries(cityhub.data().series).forEach(([id, data]) => cityhub.chart('ind-' + id, {
    grid: {left: 40, right: 10, top: 10, bottom: 20}, tooltip: {trigger: 'axis'}, xAxis: {type: 'time'},
    yAxis: {type: 'value', scale: true}, series: [{type: 'line', data: data, showSymbol: false, smooth: true}]}));
})();
