// A unit's scorecard: each indicator's score (0-100) on a radar.
(function () {
  'use strict';
  const page = cityhub.data();
  cityhub.chart('radar', {
    tooltip: {trigger: 'item'},
    radar: {indicator: page.indicators, radius: '62%', axisName: {color: '#37474f', fontSize: 11}},
    series: [{type: 'radar', data: [{name: page.label, value: page.scores, areaStyle: {opacity: 0.25}}],
      itemStyle: {color: '#1a73e8'}}]});
})();
