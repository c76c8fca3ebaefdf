// Catalog entry form: add and remove information item rows (the table works without this: blank rows to fill).
(function () {
  'use strict';
  const table = document.getElementById('items-editor');
  if (!table) return;
  const body = table.tBodies[0];
  const add = document.getElementById('add-item-row');

  function renumber() {
    Array.from(body.rows).forEach(function (row, i) {
      row.querySelector('.row-no').textContent = String(i + 1);
      row.querySelectorAll('input, select').forEach(function (el) {
        const label = el.getAttribute('aria-label') || '';
        el.setAttribute('aria-label', label.replace(/\s\d+$/, '') + ' ' + (i + 1));
      });
    });
  }

  function wire(row) {
    const remove = row.querySelector('.remove-row');
    remove.hidden = false;
    remove.addEventListener('click', function () {
      if (body.rows.length > 1) {
        row.remove();
      } else {
        row.querySelectorAll('input').forEach(function (el) { el.value = ''; });
      }
      renumber();
    });
  }

  Array.from(body.rows).forEach(wire);
  add.hidden = false;
  add.addEventListener('click', function () {
    const last = body.rows[body.rows.length - 1];
    const row = last.cloneNode(true);
    row.querySelectorAll('input').forEach(function (el) { el.value = ''; });
    row.querySelectorAll('select').forEach(function (el) { el.selectedIndex = 0; });
    const grade = row.querySelector('select[name=item_security_level]');
    grade.value = 'general';
    body.appendChild(row);
    wire(row);
    renumber();
    row.querySelector('input').focus();
  });
})();
