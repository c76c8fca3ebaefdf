// Shared front-end helpers. Pages carry no inline script (the Content-Security-Policy forbids it): each page loads
// its own file from /static/pages/ and reads its data from a <script type="application/json" id="page-data"> block.
//
// Every ECharts chart is drawn through cityhub.chart, which escapes the output of every tooltip formatter:
// ECharts puts a formatter's return value into the page as HTML, and the names it shows (districts, devices, alarm
// types, datasets) are written by users. A formatter built with cityhub.tip returns text lines, escaped and joined
// with <br>; any other function formatter found under a `tooltip` key is wrapped the same way, so a formatter that
// forgets to escape shows markup as text instead of running it.
(function () {
  'use strict';

  const ESCAPES = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  const SAFE = Symbol('cityhub.tip');

  /** Text → HTML that shows exactly that text. */
  function escapeHtml(value) {
    return String(value == null ? '' : value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  /** A tooltip formatter from a function returning text (a string or an array of lines); the output is escaped. */
  function tip(fn) {
    if (fn && fn[SAFE]) return fn;
    const formatter = function (params, ticket, callback) {
      const out = fn(params, ticket, callback && ((text) => callback(ticket, toHtml(text))));
      return out === undefined ? out : toHtml(out);
    };
    formatter[SAFE] = true;
    return formatter;
  }

  function toHtml(out) {
    return (Array.isArray(out) ? out : [out]).map(escapeHtml).join('<br>');
  }

  function isPlain(node) {
    return node !== null && typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype;
  }

  function guardTooltip(t) {
    if (Array.isArray(t)) t.forEach(guardTooltip);
    else if (isPlain(t) && typeof t.formatter === 'function') t.formatter = tip(t.formatter);
  }

  /** Wrap every function formatter under a `tooltip` key of an ECharts option (in place); returns the option. */
  function guard(node) {
    if (Array.isArray(node)) {
      node.forEach(guard);
    } else if (isPlain(node)) {
      Object.keys(node).forEach((k) => {
        if (k === 'tooltip') guardTooltip(node[k]);
        guard(node[k]);
      });
    }
    return node;
  }

  /**
   * Draw `option` into `el` (an element or its id), creating the chart on first use; null when ECharts or the
   * element is missing. opts.merge merges into the current option instead of replacing it; opts.renderer picks
   * 'canvas' or 'svg' at creation.
   */
  function chart(el, option, opts) {
    const node = typeof el === 'string' ? document.getElementById(el) : el;
    if (!window.echarts || !node) return null;
    const o = opts || {};
    let c = window.echarts.getInstanceByDom(node);
    if (!c) {
      c = window.echarts.init(node, null, o.renderer ? {renderer: o.renderer} : undefined);
      window.addEventListener('resize', () => c.resize());
    }
    if ([].concat(option.xAxis || [], option.yAxis || []).some((ax) => ax && ax[TIME_AXIS])) option.useUTC = true;
    c.setOption(guard(option), !o.merge);
    return c;
  }

  /** The parsed JSON of a <script type="application/json"> block (default id page-data); null when absent. */
  function data(id) {
    const node = document.getElementById(id || 'page-data');
    return node ? JSON.parse(node.textContent) : null;
  }

  /** The time zone pages show times in (CITYHUB_DISPLAY_TIMEZONE, from <body data-timezone>), not the browser's. */
  function zone() {
    return (document.body && document.body.dataset.timezone) || 'Asia/Shanghai';
  }

  const TIME_AXIS = Symbol('cityhub.timeAxis');
  const formats = {};
  function parts(ms) {
    const tz = zone();
    const f = formats[tz] || (formats[tz] = new Intl.DateTimeFormat('en-GB', {timeZone: tz, hourCycle: 'h23',
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit'}));
    const out = {};
    f.formatToParts(new Date(ms)).forEach((p) => { out[p.type] = p.value; });
    return out;
  }

  /** A time (ms or ISO text) as the tables show it, in the display time zone: 'MM-DD HH:mm' (opts.seconds, opts.year). */
  function timeText(value, opts) {
    const o = opts || {};
    const p = parts(typeof value === 'number' ? value : Date.parse(value));
    const day = (o.year ? p.year + '-' : '') + p.month + '-' + p.day;
    return day + ' ' + p.hour + ':' + p.minute + (o.seconds ? ':' + p.second : '');
  }

  /**
   * An ECharts time axis labelled in the display time zone: 'HH:mm', and 'MM-DD' at local midnight; labels that
   * would overlap are hidden. Draw with useUTC: true (set by cityhub.chart when a time axis is made here).
   */
  function timeAxis(extra) {
    const axis = {type: 'time', axisLabel: {hideOverlap: true, formatter: (ms) => {
      const p = parts(ms);
      return p.hour === '00' && p.minute === '00' ? p.month + '-' + p.day : p.hour + ':' + p.minute;
    }}};
    axis[TIME_AXIS] = true;
    return Object.assign(axis, extra || {});
  }

  // <select data-autosubmit> submits its form on change (instead of an inline onchange handler).
  document.addEventListener('change', (e) => {
    const t = e.target;
    if (t instanceof HTMLSelectElement && t.hasAttribute('data-autosubmit') && t.form) t.form.submit();
  });

  /**
   * The top bar's sections on one line: the sections that do not fit go, last first, into its "More" menu (shown
   * only then), refitted when the window changes size. The menu closes on a click outside it.
   */
  function fitTopNav() {
    const nav = document.querySelector('nav.layers');
    const more = nav && nav.querySelector('.nav-more');
    const menu = more && more.querySelector('.nav-more-menu');
    if (!menu) return;
    nav.classList.add('fitted');
    Array.from(menu.children).forEach((a) => nav.insertBefore(a, more));
    more.hidden = true;
    const overflows = () => nav.scrollWidth > nav.clientWidth + 1 ||
      Array.from(nav.children).some((c) => !c.hidden && c.getBoundingClientRect().right > nav.getBoundingClientRect().right + 1);
    if (overflows()) {
      more.hidden = false;
      let links = nav.querySelectorAll(':scope > a');
      while (links.length && overflows()) {
        menu.insertBefore(links[links.length - 1], menu.firstChild);
        links = nav.querySelectorAll(':scope > a');
      }
    }
    more.classList.toggle('active', !!menu.querySelector('a.active'));
  }
  let fitTimer = 0;
  document.addEventListener('DOMContentLoaded', fitTopNav);
  window.addEventListener('resize', () => { clearTimeout(fitTimer); fitTimer = setTimeout(fitTopNav, 60); });
  document.addEventListener('click', (e) => {
    document.querySelectorAll('details.nav-more[open]').forEach((d) => { if (!d.contains(e.target)) d.open = false; });
  });

  /**
   * The Chongqing district outlines, registered once as the ECharts map 'chongqing'; a promise of the GeoJSON (null
   * when it cannot be had). The outlines name districts in Chinese and predate 2016 (two renamed counties); on an
   * English page the page's <script type="application/json" id="district-names"> (Chinese name → English name)
   * renames them, so labels, tooltips and the page's data (named in the page's language) agree.
   */
  const CQ_ALIASES = {'梁平县': '梁平区', '武隆县': '武隆区'};
  let cqMap = null;
  function chongqing() {
    if (!cqMap) {
      const names = data('district-names') || {};
      cqMap = fetch('/static/vendor/chongqing.geojson').then((r) => (r.ok ? r.json() : null)).then((geo) => {
        if (!geo || !window.echarts) return null;
        geo.features.forEach((f) => {
          const zh = CQ_ALIASES[f.properties.name] || f.properties.name;
          f.properties.name = names[zh] || zh;
        });
        window.echarts.registerMap('chongqing', geo);
        return geo;
      }).catch(() => null);
    }
    return cqMap;
  }

  /**
   * A live screen's server-sent events (the ops 大屏, the 全景 screen): `handlers` maps an event name to a function
   * of its parsed JSON data. The connection never gives up: an error, or no event for `quietMs` (the server sends
   * at least one that often), closes it and reconnects after a jittered backoff (1 s doubling to 30 s, back to 1 s
   * on the next event). `indicator` (an element with data-live, data-reconnecting and data-offline texts, the
   * latter with {n} for the seconds) says which: its data-state is live, wait or off.
   */
  function live(url, indicator, handlers, quietMs) {
    function state(kind, seconds) {
      indicator.classList.toggle('off', kind === 'off');
      indicator.classList.toggle('wait', kind === 'wait');
      indicator.dataset.state = kind;
      const text = kind === 'live' ? indicator.dataset.live : kind === 'wait' ? indicator.dataset.reconnecting
        : indicator.dataset.offline.replace('{n}', String(seconds));
      indicator.textContent = '● ' + text;
    }
    if (!window.EventSource) return;
    let source = null;
    let backoff = 1000;
    let retryTimer = null;
    let watchdog = null;

    function arm() {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => retry(), quietMs);
    }
    function retry() {
      if (source) source.close();
      source = null;
      clearTimeout(watchdog);
      clearTimeout(retryTimer);
      const wait = Math.round(backoff * (0.8 + Math.random() * 0.4));
      backoff = Math.min(backoff * 2, 30000);
      state('off', Math.max(1, Math.round(wait / 1000)));
      retryTimer = setTimeout(connect, wait);
    }
    function connect() {
      state('wait');
      source = new EventSource(url);
      arm();
      Object.entries(handlers).forEach(([name, fn]) => source.addEventListener(name, (e) => {
        backoff = 1000;
        state('live');
        arm();
        fn(JSON.parse(e.data));
      }));
      source.onerror = () => retry();  // the browser's own retry gives up on HTTP errors: ours never does
    }
    connect();
  }

  window.cityhub = Object.freeze({escapeHtml, tip, guard, chart, data, zone, timeText, timeAxis, chongqing, live});
})();
