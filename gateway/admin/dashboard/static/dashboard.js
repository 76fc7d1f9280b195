// llm-gateway dashboard: bar widths and the overview charts (uPlot). The page embeds its data as JSON in
// <script type="application/json" id="chart-data">; nothing is fetched and nothing is evaluated.
(function () {
  "use strict";

  // Bars get their size here: the Content-Security-Policy allows no inline style attributes.
  function fraction(el, name) {
    return Math.max(0, Math.min(1, parseFloat(el.getAttribute(name)) || 0));
  }
  document.querySelectorAll("[data-share]").forEach(function (el) {
    el.style.width = (fraction(el, "data-share") * 100).toFixed(2) + "%";
    if (el.hasAttribute("data-offset")) el.style.marginLeft = (fraction(el, "data-offset") * 100).toFixed(2) + "%";
  });

  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var css = getComputedStyle(document.documentElement);
  var muted = css.getPropertyValue("--muted").trim() || "#60646c";
  var grid = css.getPropertyValue("--grid").trim() || "#eceef1";
  var HEIGHT = 220;

  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return +(v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return +(v / 1e3).toFixed(1) + "k";
    return String(+v.toFixed(2));
  }
  var format = {
    count: compact,
    usd: function (v) {
      if (v === 0) return "$0";
      return "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : +v.toPrecision(3));
    },
    ms: function (v) {
      return v >= 1000 ? +(v / 1000).toFixed(2) + " s" : +v.toFixed(v < 10 ? 1 : 0) + " ms";
    },
  };

  // Times are UTC, like the rest of the dashboard; over more than a day the date leads.
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function day(d) { return pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()); }
  function clock(d) { return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  var xs = data.columns.x;
  var long = xs.length > 1 && xs[xs.length - 1] - xs[0] > 86400;
  function tick(ts) {
    var d = new Date(ts * 1e3);
    return long ? day(d) + " " + clock(d) : clock(d);
  }

  function axis(unit) {
    var isX = unit === "x";
    return {
      stroke: muted,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      size: isX ? 36 : 60,
      space: isX ? (long ? 90 : 60) : 30,
      values: function (u, vals) { return vals.map(isX ? tick : format[unit]); },
    };
  }

  var charts = [];
  data.charts.forEach(function (spec) {
    var el = document.getElementById("chart-" + spec.id);
    if (!el) return;
    var fmt = format[spec.unit];
    var columns = [data.columns.x].concat(spec.series.map(function (s) { return data.columns[s.key]; }));
    var sparse = spec.unit === "ms";  // latency has gaps (no request, no latency): show the points
    var opts = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      cursor: { points: { size: 7 } },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } },
      },
      axes: [axis("x"), axis(spec.unit)],
      series: [{
        label: "UTC",
        value: function (u, ts) { return ts == null ? "–" : day(new Date(ts * 1e3)) + " " + clock(new Date(ts * 1e3)); },
      }].concat(spec.series.map(function (s) {
        return {
          label: s.label,
          stroke: s.color,
          fill: s.color + "1f",
          width: 2,
          points: sparse ? { show: true, size: 5, fill: s.color } : {},
          value: function (u, v) { return v == null ? "–" : fmt(v); },
        };
      })),
    };
    var plot = new uPlot(opts, columns, el);
    el.setAttribute("data-drawn", "true");
    charts.push({ plot: plot, el: el });
  });

  // Follow the layout (window resizes, phone rotation) without redrawing at the same width.
  if (typeof ResizeObserver !== "undefined") {
    var observer = new ResizeObserver(function () {
      charts.forEach(function (c) {
        var width = Math.max(c.el.clientWidth, 200);
        if (width !== c.plot.width) c.plot.setSize({ width: width, height: HEIGHT });
      });
    });
    charts.forEach(function (c) { observer.observe(c.el); });
  }
})();
