// Live updates for the dashboard: one EventSource per page, fed by /events.
"use strict";
(function () {
  var pages = document.querySelectorAll("[data-stream]");
  var statsBox = document.querySelector("[data-live-stats]");
  if (!pages.length && !statsBox) return;
  var names = Array.prototype.map.call(pages, function (el) { return el.getAttribute("data-stream"); });
  var url = "/events?streams=" + encodeURIComponent(names.join(",")) + (statsBox ? "&topics=stats" : "");

  function fmt(v) { return v === null ? "–" : Number(v.toPrecision(4)).toString(); }
  function duration(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  }
  function points(values) {
    if (values.length < 2) return "";
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), span = (hi - lo) || 1;
    var step = 120 / (values.length - 1);
    return values.map(function (v, i) {
      return (i * step).toFixed(1) + "," + (27 - (v - lo) / span * 26).toFixed(1);
    }).join(" ");
  }

  document.querySelectorAll("[data-format=duration]").forEach(function (el) {
    el.textContent = duration(Number(el.textContent));
  });

  var source = new EventSource(url);
  var live = document.getElementById("live");
  source.onopen = function () { live.hidden = false; };
  source.onerror = function () {
    live.hidden = true;
    if (source.readyState === EventSource.CLOSED) window.location.href = "/login";
  };
  source.addEventListener("reading", function (e) {
    var r = JSON.parse(e.data);
    document.querySelectorAll("[data-stream]").forEach(function (box) {
      if (box.getAttribute("data-stream") !== r.s) return;
      var value = box.querySelector("[data-live=value]");
      if (value) value.textContent = r.l || fmt(r.v);
      var time = box.querySelector("[data-live=time]");
      if (time) time.textContent = new Date(r.t * 1000).toLocaleTimeString();
      var line = box.querySelector("polyline[data-values]");
      if (line && r.v !== null) {
        // Keep the server's buckets: a live value joins the newest bucket's mean or opens the next one.
        var values = JSON.parse(line.getAttribute("data-values"));
        var size = Number(line.getAttribute("data-bucket")), last = Number(line.getAttribute("data-last"));
        var n = Number(line.getAttribute("data-n") || 1);
        if (values.length && r.t < last + size) {
          values[values.length - 1] += (r.v - values[values.length - 1]) / (n + 1);
          n += 1;
        } else {
          values.push(r.v);
          last = last ? last + Math.floor((r.t - last) / size) * size : r.t;
          n = 1;
        }
        var max = Number(line.getAttribute("data-max") || 60);
        if (values.length > max) values = values.slice(values.length - max);
        line.setAttribute("data-values", JSON.stringify(values));
        line.setAttribute("data-last", String(last));
        line.setAttribute("data-n", String(n));
        line.setAttribute("points", points(values));
      }
    });
  });
  source.addEventListener("stats", function (e) {
    var s = JSON.parse(e.data);
    document.querySelectorAll("[data-stat]").forEach(function (el) {
      var k = el.getAttribute("data-stat");
      if (!(k in s)) return;
      el.textContent = el.getAttribute("data-format") === "duration" ? duration(s[k]) : s[k];
    });
    s.sources.forEach(function (src) {
      var row = document.querySelector('tr[data-source="' + CSS.escape(src.name) + '"]');
      if (!row) return;
      row.querySelectorAll("[data-f]").forEach(function (cell) {
        var f = cell.getAttribute("data-f"), v = src[f];
        if (f === "stats") v = Object.keys(v).map(function (k) { return k + " " + v[k]; }).join(", ");
        cell.textContent = v === null ? "" : v;
      });
    });
  });
})();
