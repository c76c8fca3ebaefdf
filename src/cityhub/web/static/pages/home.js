// Overview: organisations by kind.
(function () {
  'use strict';
  const page = cityhub.data();
  cityhub.chart('org-kinds', {tooltip: {trigger: 'item'},
    series: [{type: 'pie', radius: ['40%', '70%'], data: page.org_kinds}]});
})();
