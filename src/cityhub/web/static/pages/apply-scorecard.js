// A unit's scorecard: each indicator's score (0-100) on a radar.
(function () {
  'use strict';
  const page = cityhub.data();
  cityhub.chart('radar', {
    tooltip: {trigger: 'item'},
    // long indicator names wrap every 8 characters so none is cut at the card's edge
    radar: {indicator: page.indicators.map((i) => ({...i, name: i.name.replace(/(.{8})(?=.)/g, '$1\n')})),
      radius: '58%', axisName: {color: '#37474f', fontSize: 11}},
    series: [{type: 'radar', data: [{name: page.label, value: page.scores, areaStyle: {opacity: 0.25}}],
      itemStyle: {color: '#1a73e8'}}]});
})();
