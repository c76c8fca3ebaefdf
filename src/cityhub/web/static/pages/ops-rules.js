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
