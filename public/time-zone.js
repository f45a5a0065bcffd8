// Tells carevault the browser's time zone once, so the person's pages show their own times and
// days (until then they are in UTC). Loaded only while the zone is unknown; a form post with the
// page's CSRF token (answered 204: nothing to show).
(function () {
  var meta = document.querySelector('meta[name="cv-time-zone"]');
  if (!meta || !window.fetch || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  var body = new URLSearchParams();
  body.set('time_zone', zone);
  body.set('_csrf', meta.getAttribute('content') || '');
  body.set('return', location.pathname);
  fetch('/account/time-zone', { method: 'POST', body: body, credentials: 'same-origin' }).catch(function () {});
})();
