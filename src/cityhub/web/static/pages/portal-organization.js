// Open data portal, one department: its datasets by open type.
(function () {
  'use strict';
  cityhub.chart('org-chart', {tooltip: {trigger: 'item'},
    series: [{type: 'pie', radius: ['40%', '70%'], data: cityhub.data().chart}]});
})();
