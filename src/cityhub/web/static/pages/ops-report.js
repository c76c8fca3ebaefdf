// Report a problem: the "use my location" button fills longitude and latitude.
(function () {
  'use strict';
  const button = document.querySelector('[data-geolocate]');
  if (!button || !navigator.geolocation) return;
  button.addEventListener('click', () => navigator.geolocation.getCurrentPosition((p) => {
    document.getElementById('lon').value = p.coords.longitude.toFixed(5);
    document.getElementById('lat').value = p.coords.latitude.toFixed(5);
  }));
})();
