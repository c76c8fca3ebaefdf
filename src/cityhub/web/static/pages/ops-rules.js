// The rule editor: the metric picker follows the device profile, the inputs follow the rule's kind, and the
// threshold shows the chosen metric's unit; the one-device picker offers the chosen profile's devices. Without this script every input stays visible and the form still works.
(function () {
  'use strict';
  const form = document.querySelector('[data-rule-form]');
  if (!form) return;
  const kind = form.querySelector('[data-kind]');
  const profile = form.querySelector('[data-profile]');
  const metric = form.querySelector('[data-metric]');
  const unit = form.querySelector('[data-unit]');
  const device = form.querySelector('[data-device]');

  function showKind() {
    const k = kind.value;
    form.querySelectorAll('[data-kinds]').forEach((el) => {
      const on = el.dataset.kinds.split(' ').includes(k);
      el.hidden = !on;
      el.querySelectorAll('input, select').forEach((input) => { input.disabled = !on; });
    });
  }

  function showMetrics() {
    if (!profile || !metric) return;
    const code = profile.value;
    metric.querySelectorAll('optgroup').forEach((g) => {
      const on = !code || g.dataset.profile === code;
      g.hidden = !on;
      g.disabled = !on;
    });
    const chosen = metric.selectedOptions[0];
    if (chosen && chosen.parentElement.tagName === 'OPTGROUP' && chosen.parentElement.disabled) metric.value = '';
    if (code && !metric.value) {
      const first = metric.querySelector('optgroup[data-profile="' + CSS.escape(code) + '"] option');
      if (first) metric.value = first.value;
    }
    if (device) {
      device.querySelectorAll('option[data-profile]').forEach((o) => {
        const on = !code || o.dataset.profile === code;
        o.hidden = !on;
        o.disabled = !on;
      });
      const picked = device.selectedOptions[0];
      if (picked && picked.disabled) device.value = '';
    }
    showUnit();
  }

  function showUnit() {
    if (!unit || !metric) return;
    const chosen = metric.selectedOptions[0];
    unit.textContent = chosen && chosen.dataset.unit ? '(' + chosen.dataset.unit + ')' : '';
  }

  kind.addEventListener('change', showKind);
  if (profile) profile.addEventListener('change', showMetrics);
  if (metric) metric.addEventListener('change', showUnit);
  showKind();
  showMetrics();
})();
// A forecast rule's series: actual points, the forecast line to the horizon, its 95 % band (stacked areas: lower
// bound transparent, then the band's width) and the threshold as a dashed line; times in Beijing time.
(function () {
  'use strict';
  const page = document.getElementById('page-data');
  if (!page) return;
  const data = cityhub.data();
  const t = data.labels;
  const hm = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit',
    minute: '2-digit'});
  (data.forecasts || []).forEach((f, i) => {
    const el = document.getElementById('forecast-' + i);
    if (!el) return;
    cityhub.chart(el, {
      grid: {left: 8, right: 16, top: 30, bottom: 4, containLabel: true},
      legend: {top: 0, data: [t.actual, t.forecast, t.band]},
      tooltip: {trigger: 'axis'},
      xAxis: {type: 'time', axisLabel: {hideOverlap: true, formatter: (ms) => hm.format(new Date(ms))}},
      yAxis: {type: 'value', scale: true},
      series: [
        {name: t.actual, type: 'line', data: f.actual, showSymbol: false},
        {name: 'lower', type: 'line', data: f.lower, stack: 'band', lineStyle: {opacity: 0}, showSymbol: false,
          tooltip: {show: false}},
        {name: t.band, type: 'line', data: f.band, stack: 'band', lineStyle: {opacity: 0}, showSymbol: false,
          areaStyle: {opacity: 0.25}},
        {name: t.forecast, type: 'line', data: f.line, showSymbol: false, lineStyle: {type: 'solid', width: 2},
          markLine: {symbol: 'none', silent: true,
            label: {position: 'insideEndTop', formatter: t.threshold + ' ' + f.threshold},
            lineStyle: {type: 'dashed', color: '#c0392b'}, data: [{yAxis: f.threshold}]}}]});
  });
})();
