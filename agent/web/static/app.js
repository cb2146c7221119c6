// Live updates for the dashboard: one EventSource per page, fed by /events.
"use strict";
// Times are the hub's (hub.timezone, which the page names on <body data-timezone>), never the browser's
// own zone: what the page shows and what the owner types mean the same wall clock as the command line.
var hubTime = (function () {
  var zone = document.body.getAttribute("data-timezone") || "UTC";
  var format = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit"
  });
  function parts(ts) {
    var out = {};
    format.formatToParts(new Date(ts * 1000)).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }
  return {
    // 2026-12-02T14:30:00, as a datetime-local field takes it and the hub reads it back.
    typed: function (ts) {
      var p = parts(ts);
      return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute + ":" + p.second;
    },
    // 14:30:00, as the pages list times.
    clock: function (ts) {
      var p = parts(ts);
      return p.hour + ":" + p.minute + ":" + p.second;
    }
  };
})();

// Labelling on the context timeline: two clicks or a drag select a span, which fills the form's from/to.
// The fields stay the way to type a span without a pointer; the selection also travels as unix seconds.
(function () {
  document.querySelectorAll("form[data-label-form]").forEach(function (form) {
    var box = form.closest("[data-stream]");
    var bar = box && box.querySelector("svg.timeline");
    if (!bar) return;
    bar.setAttribute("data-selectable", "");
    var start = Number(bar.getAttribute("data-start")), span = Number(bar.getAttribute("data-window"));
    var mark = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    mark.setAttribute("data-selection", "");
    mark.setAttribute("y", "0");
    mark.setAttribute("height", "24");
    mark.setAttribute("visibility", "hidden");
    bar.appendChild(mark);
    function at(clientX) {
      var r = bar.getBoundingClientRect();
      return start + Math.max(0, Math.min(1, (clientX - r.left) / r.width)) * span;
    }
    function select(a, b) {
      var lo = Math.floor(Math.min(a, b)), hi = Math.ceil(Math.max(a, b));
      [["from", lo], ["to", hi]].forEach(function (f) {
        form.querySelector("[data-ts=" + f[0] + "]").value = String(f[1]);
        form.querySelector("[data-field=" + f[0] + "]").value = hubTime.typed(f[1]);
      });
      var x = (lo - start) / span * 1000;
      mark.setAttribute("x", Math.max(0, x).toFixed(1));
      mark.setAttribute("width", Math.max(2, (hi - lo) / span * 1000).toFixed(1));
      mark.setAttribute("visibility", "visible");
      bar.appendChild(mark);  // above spans that arrived live
    }
    var anchor = null, down = null, dragged = false;
    bar.addEventListener("pointerdown", function (e) {
      down = { x: e.clientX, ts: at(e.clientX) };
      dragged = false;
      bar.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    bar.addEventListener("pointermove", function (e) {
      if (!down) return;
      if (Math.abs(e.clientX - down.x) > 4) dragged = true;
      if (dragged) select(down.ts, at(e.clientX));
    });
    bar.addEventListener("pointerup", function (e) {
      if (!down) return;
      var ts = at(e.clientX);
      if (dragged) { select(down.ts, ts); anchor = null; }
      else if (anchor === null) { anchor = ts; select(ts, ts); }
      else { select(anchor, ts); anchor = null; }
      down = null;
    });
    form.querySelectorAll("[data-field]").forEach(function (field) {
      field.addEventListener("input", function () {
        form.querySelector("[data-ts=" + field.getAttribute("data-field") + "]").value = "";
      });
    });
  });
})();

(function () {
  var pages = document.querySelectorAll("[data-stream]");
  var statsBox = document.querySelector("[data-live-stats]");
  var nearby = document.querySelector("table[data-discovery]");
  if (!pages.length && !statsBox && !nearby) return;
  var names = Array.prototype.map.call(pages, function (el) { return el.getAttribute("data-stream"); });
  var topics = [statsBox ? "stats" : "", nearby ? "discovery" : ""].filter(Boolean).join(",");
  var url = "/events?streams=" + encodeURIComponent(names.join(",")) + (topics ? "&topics=" + topics : "");

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
      if (time) time.textContent = hubTime.clock(r.t);
      var sure = box.querySelector("[data-live=confidence]");
      if (sure && r.v !== null) sure.textContent = Math.round(r.v * 100) + " % sure";
      var changes = box.querySelector("ol[data-changes]");
      if (changes && r.l) {
        var item = document.createElement("li"), when = document.createElement("time");
        var label = document.createElement("strong"), pct = document.createElement("span");
        when.textContent = hubTime.clock(r.t);
        label.textContent = r.l;
        pct.className = "muted";
        pct.textContent = r.v === null ? "" : Math.round(r.v * 100) + " %";
        item.append(when, " ", label, " ", pct);
        var bar = box.querySelector("svg.timeline");
        if (bar) {
          // The label's colour as the server picks it: a 31-multiplier string hash into the palette.
          var palette = bar.getAttribute("data-palette").split(","), h = 0;
          for (var i = 0; i < r.l.length; i++) h = (h * 31 + r.l.charCodeAt(i)) >>> 0;
          var start = Number(bar.getAttribute("data-start")), span = Number(bar.getAttribute("data-window"));
          var x = Math.max(0, Math.min(1000, (r.t - start) / span * 1000));
          var drawn = bar.querySelectorAll("rect:not([data-selection])"), last = drawn[drawn.length - 1];
          if (last) last.setAttribute("width", Math.max(0, x - Number(last.getAttribute("x"))).toFixed(1));
          var rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
          [["x", x.toFixed(1)], ["y", "0"], ["width", (1000 - x).toFixed(1)], ["height", "24"],
            ["fill", palette[h % palette.length]]].forEach(function (a) { rect.setAttribute(a[0], a[1]); });
          bar.appendChild(rect);
          var mark = bar.querySelector("rect[data-selection]");
          if (mark) bar.appendChild(mark);  // the owner's selection stays on top
        }
        changes.insertBefore(item, changes.firstChild);
        var empty = box.querySelector("[data-empty]");
        if (empty) empty.hidden = true;
      }
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
  source.addEventListener("discovery", function (e) {
    var c = JSON.parse(e.data);
    var body = nearby.tBodies[0];
    var row = body.querySelector('tr[data-address="' + CSS.escape(c.address) + '"]');
    if (!row) {
      // Devices of a known type go first; unknown ones only while the table has room.
      if (!c.kind && body.rows.length >= Number(nearby.getAttribute("data-max"))) return;
      row = document.createElement("tr");
      row.setAttribute("data-address", c.address);
      [["address", ""], ["name", "Name"], ["kind", "Type"], ["rssi", "RSSI"], ["seen", "Last heard"]].forEach(function (f) {
        var cell = document.createElement("td");
        cell.setAttribute("data-f", f[0]);
        if (f[1]) cell.setAttribute("data-label", f[1]); else cell.className = "name";
        row.appendChild(cell);
      });
      var link = document.createElement("a");
      link.href = "/ble?adopt=" + encodeURIComponent(c.address) + "#adopt";
      link.textContent = "Adopt";
      row.appendChild(document.createElement("td")).appendChild(link);
      if (c.kind) body.insertBefore(row, body.firstChild); else body.appendChild(row);
      var empty = document.querySelector("[data-empty]");
      if (empty) empty.hidden = true;
    }
    row.querySelector("[data-f=address]").textContent = c.address;
    row.querySelector("[data-f=name]").textContent = c.name || "";
    row.querySelector("[data-f=kind]").textContent = c.kind || "";
    row.querySelector("[data-f=rssi]").textContent = c.rssi + " dBm";
    row.querySelector("[data-f=seen]").textContent = hubTime.clock(c.seen);
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
