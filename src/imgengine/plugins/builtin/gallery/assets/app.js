/* imgengine gallery: a virtualised grid, filters, lightbox, timeline and map over window.IMGENGINE_GALLERY.
   Plain JavaScript, no build step: the page must open from file:// with nothing but these files. */
(function () {
  "use strict";
  const G = window.IMGENGINE_GALLERY;
  if (!G) { document.body.textContent = "data/photos.js is missing: rebuild the gallery."; return; }
  const F = {}; G.fields.forEach((name, i) => { F[name] = i; });
  const S = G.strings;
  const photos = G.photos;
  const failed = new Set(G.failed || []);
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const str = (i) => (i >= 0 ? S[i] : "");
  const thumb = (key, size) => `thumbs/${key.slice(0, 2)}/${key}-${size}.${G.thumbFormat}`;
  const preview = (key) => `previews/${key.slice(0, 2)}/${key}-${G.previewSize}.${G.thumbFormat}`;
  const href = (p) => p[F.href].split("/").map(encodeURIComponent).join("/");

  // ---- filters ----------------------------------------------------------------------------------------
  const controls = {
    from: $("#f-from"), to: $("#f-to"), camera: $("#f-camera"), tag: $("#f-tag"), person: $("#f-person"),
    place: $("#f-place"), quality: $("#f-quality"), dup: $("#f-dup"), gps: $("#f-gps"),
  };
  function fillOptions(select, indexOf) {
    const counts = new Map();
    for (const p of photos) for (const i of indexOf(p)) if (i >= 0) counts.set(i, (counts.get(i) || 0) + 1);
    [...counts.keys()].sort((a, b) => S[a].localeCompare(S[b])).forEach((i) => {
      select.appendChild(el("option", { value: String(i) }, `${S[i]} (${counts.get(i)})`));
    });
  }
  fillOptions(controls.camera, (p) => [p[F.camera]]);
  fillOptions(controls.person, (p) => p[F.people]);
  fillOptions(controls.place, (p) => [p[F.place]]);
  const tagSet = new Set(); photos.forEach((p) => p[F.tags].forEach((i) => tagSet.add(i)));
  [...tagSet].map((i) => S[i]).sort().forEach((t) => $("#tag-list").appendChild(el("option", { value: t })));

  let visible = photos.map((_, i) => i);
  function applyFilters() {
    const from = controls.from.value, to = controls.to.value;
    const cam = controls.camera.value === "" ? null : +controls.camera.value;
    const tag = controls.tag.value.trim().toLowerCase();
    const person = controls.person.value === "" ? null : +controls.person.value;
    const place = controls.place.value === "" ? null : +controls.place.value;
    const minQ = +controls.quality.value;
    const dup = controls.dup.checked, gps = controls.gps.checked;
    visible = [];
    photos.forEach((p, i) => {
      const day = p[F.date].slice(0, 10);
      if (from && (!day || day < from)) return;
      if (to && (!day || day > to)) return;
      if (cam !== null && p[F.camera] !== cam) return;
      if (tag && !p[F.tags].some((t) => S[t].toLowerCase() === tag || S[t].toLowerCase().startsWith(tag))) return;
      if (person !== null && !p[F.people].includes(person)) return;
      if (place !== null && p[F.place] !== place) return;
      if (minQ >= 0 && p[F.quality] < minQ) return;
      if (dup && !p[F.dup]) return;
      if (gps && p[F.lat] === null) return;
      visible.push(i);
    });
    $("#count").textContent = visible.length === photos.length ? `${photos.length} photos`
      : `${visible.length} of ${photos.length} photos`;
    grid.reset();
    if (view === "timeline") renderTimeline();
    if (view === "map") renderMarkers();
  }
  Object.values(controls).forEach((c) => c.addEventListener(c.tagName === "INPUT" && c.type !== "checkbox" &&
    c.type !== "date" ? "input" : "change", applyFilters));
  $("#f-clear").addEventListener("click", () => {
    Object.values(controls).forEach((c) => { if (c.type === "checkbox") c.checked = false; else c.value = ""; });
    controls.quality.value = "-1";
    applyFilters();
  });

  // ---- the virtualised grid: only the rows on screen (plus a margin) exist in the DOM -------------------
  const grid = (function () {
    const box = $("#grid"), inner = $("#grid-inner");
    const cellVar = parseInt(getComputedStyle(document.documentElement).getPropertyValue("--cell"), 10) || 180;
    const gap = 4;
    let cols = 1, cell = cellVar, shown = new Map(), frame = 0;
    function layout() {
      const width = box.clientWidth - 2 * gap;
      cols = Math.max(1, Math.floor((width + gap) / (cellVar + gap)));
      cell = Math.floor((width - (cols - 1) * gap) / cols);
      inner.style.height = `${Math.ceil(visible.length / cols) * (cell + gap)}px`;
    }
    function makeCell(pos) {
      const i = visible[pos], p = photos[i];
      const c = el("div", { class: "cell", "data-index": String(i), role: "button", tabindex: "-1",
        title: p[F.name] });
      c.style.width = c.style.height = `${cell}px`;
      c.style.left = `${(pos % cols) * (cell + gap)}px`;
      c.style.top = `${Math.floor(pos / cols) * (cell + gap)}px`;
      if (failed.has(p[F.key])) {
        c.classList.add("nothumb");
        c.textContent = p[F.name];
      } else {
        const [s1, s2] = G.thumbSizes;
        const img = el("img", { src: thumb(p[F.key], s1), srcset: `${thumb(p[F.key], s1)} 1x, ${thumb(p[F.key], s2)} 2x`,
          alt: p[F.name], loading: "lazy", decoding: "async", width: String(s1), height: String(s1) });
        c.appendChild(img);
      }
      if (p[F.dup]) c.appendChild(el("span", { class: "badge" }, "duplicate"));
      c.addEventListener("click", () => lightbox.open(pos));
      return c;
    }
    function render() {
      frame = 0;
      const top = box.scrollTop, height = box.clientHeight;
      const row = cell + gap;
      const first = Math.max(0, Math.floor(top / row) - 2);
      const last = Math.min(Math.ceil(visible.length / cols) - 1, Math.ceil((top + height) / row) + 2);
      const lo = first * cols, hi = Math.min(visible.length, (last + 1) * cols);
      for (const [pos, node] of shown) if (pos < lo || pos >= hi) { node.remove(); shown.delete(pos); }
      const frag = document.createDocumentFragment();
      for (let pos = lo; pos < hi; pos++) if (!shown.has(pos)) { const n = makeCell(pos); shown.set(pos, n); frag.appendChild(n); }
      inner.appendChild(frag);
    }
    function schedule() { if (!frame) frame = requestAnimationFrame(render); }
    box.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("resize", () => { reset(false); });
    function reset(toTop = true) {
      inner.replaceChildren(); shown = new Map(); layout();
      if (toTop) box.scrollTop = 0;
      render();
    }
    return { reset, render, count: () => shown.size };
  })();

  // ---- lightbox with the metadata panel -------------------------------------------------------------------
  const lightbox = (function () {
    const box = $("#lightbox"), img = $("#lb-img"), meta = $("#lb-meta");
    let pos = -1;
    function row(dl, label, value, link) {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
      dl.appendChild(el("dt", {}, label));
      const dd = el("dd");
      if (link) dd.appendChild(el("a", { href: link, target: "_blank", rel: "noopener" }, value));
      else dd.textContent = Array.isArray(value) ? value.join(", ") : String(value);
      dl.appendChild(dd);
    }
    function show() {
      const p = photos[visible[pos]];
      img.src = failed.has(p[F.key]) ? "" : preview(p[F.key]);
      img.alt = p[F.name];
      const dl = el("dl");
      row(dl, "File", p[F.name], href(p));
      row(dl, "Date", p[F.date]);
      row(dl, "Camera", str(p[F.camera]));
      row(dl, "Lens", str(p[F.lens]));
      row(dl, "Exposure", p[F.exposure]);
      row(dl, "Size", p[F.w] ? `${p[F.w]} × ${p[F.h]} px, ${(p[F.size] / 1048576).toFixed(1)} MB` : null);
      row(dl, "Format", p[F.format].toUpperCase());
      row(dl, "Quality", p[F.quality] >= 0 ? `${G.quality[p[F.quality]]}` +
        (p[F.quality_score] !== null ? ` (${Math.round(p[F.quality_score])})` : "") : null);
      row(dl, "Tags", p[F.tags].map(str));
      row(dl, "People", p[F.people].map(str));
      row(dl, "Place", str(p[F.place]));
      row(dl, "GPS", p[F.lat] !== null ? `${p[F.lat].toFixed(5)}, ${p[F.lon].toFixed(5)}` : null);
      row(dl, "Duplicate", p[F.dup] ? `group ${p[F.dup]}` : null);
      meta.replaceChildren(el("h2", {}, `${pos + 1} / ${visible.length}`), dl);
    }
    function open(p) { pos = p; box.hidden = false; show(); }
    function close() { box.hidden = true; img.removeAttribute("src"); }
    function step(d) { if (!box.hidden && visible.length) { pos = (pos + d + visible.length) % visible.length; show(); } }
    box.querySelector(".lb-close").addEventListener("click", close);
    box.querySelector(".lb-prev").addEventListener("click", () => step(-1));
    box.querySelector(".lb-next").addEventListener("click", () => step(1));
    document.addEventListener("keydown", (e) => {
      if (box.hidden) return;
      if (e.key === "Escape") close(); else if (e.key === "ArrowLeft") step(-1); else if (e.key === "ArrowRight") step(1);
    });
    return { open, close, openPhoto: (i) => { const p = visible.indexOf(i); if (p >= 0) open(p); } };
  })();

  // ---- timeline: photos per month; a click filters the grid to that month ----------------------------------
  function renderTimeline() {
    const byMonth = new Map();
    let undated = 0;
    for (const i of visible) {
      const m = photos[i][F.date].slice(0, 7);
      if (!m) { undated++; continue; }
      byMonth.set(m, (byMonth.get(m) || 0) + 1);
    }
    const box = $("#timeline");
    box.replaceChildren();
    const years = [...new Set([...byMonth.keys()].map((m) => m.slice(0, 4)))].sort();
    const max = Math.max(1, ...byMonth.values());
    for (const y of years) {
      const sec = el("section", { class: "tl-year" });
      sec.appendChild(el("h2", {}, y));
      const bars = el("div", { class: "tl-bars" }), labels = el("div", { class: "tl-labels" });
      for (let mo = 1; mo <= 12; mo++) {
        const key = `${y}-${String(mo).padStart(2, "0")}`, n = byMonth.get(key) || 0;
        const bar = el("div", { class: "tl-bar", "data-month": key, title: `${key}: ${n} photos` });
        bar.style.height = `${(100 * n) / max}%`;
        if (n) bar.appendChild(el("span", {}, String(n)));
        bar.addEventListener("click", () => {
          if (!n) return;
          const end = new Date(+y, mo, 0).getDate();
          controls.from.value = `${key}-01`; controls.to.value = `${key}-${String(end).padStart(2, "0")}`;
          setView("grid"); applyFilters();
        });
        bars.appendChild(bar);
        labels.appendChild(el("span", {}, new Date(2000, mo - 1, 1).toLocaleString("en", { month: "short" })));
      }
      sec.append(bars, labels);
      box.appendChild(sec);
    }
    if (undated) box.appendChild(el("p", {}, `${undated} photos without a date`));
    if (!years.length && !undated) box.appendChild(el("p", {}, "No photos match the filters."));
  }

  // ---- map: points on a world outline (or tiles when a tile server is configured) ----------------------
  let map = null, markers = null;
  function ensureMap() {
    if (map || typeof L === "undefined") return;
    map = L.map("map", { preferCanvas: true, worldCopyJump: true, minZoom: 1, maxZoom: 18 }).setView([20, 0], 2);
    if (G.tileUrl) {
      L.tileLayer(G.tileUrl, { maxZoom: 19, attribution: "map tiles: configured tile server" }).addTo(map);
    } else if (window.IMGENGINE_WORLD) {
      L.geoJSON(window.IMGENGINE_WORLD, { interactive: false,
        style: { color: "#7f8c99", weight: 1, fillColor: "#eef0ea", fillOpacity: 1 } }).addTo(map);
    }
    markers = L.layerGroup().addTo(map);
  }
  function renderMarkers() {
    ensureMap();
    if (!map) { $("#map-note").textContent = "The map library did not load."; return; }
    map.invalidateSize();
    markers.clearLayers();
    const pts = [];
    for (const i of visible) {
      const p = photos[i];
      if (p[F.lat] === null) continue;
      const m = L.circleMarker([p[F.lat], p[F.lon]], { radius: 6, color: "#1a4d8f", weight: 1, fillColor: "#3b82f6",
        fillOpacity: 0.85 });
      m.bindTooltip(p[F.name]);
      m.on("click", () => lightbox.openPhoto(i));
      markers.addLayer(m);
      pts.push([p[F.lat], p[F.lon]]);
    }
    if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 12 });
    $("#map-note").textContent = `${pts.length} of ${visible.length} photos have GPS` +
      (G.tileUrl ? "" : " · world outline: Natural Earth (no tile server configured)");
  }

  // ---- views ---------------------------------------------------------------------------------------------
  let view = "grid";
  function setView(v) {
    view = v;
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.view === v));
    document.querySelectorAll(".view").forEach((s) => s.classList.toggle("active", s.id === `${v}-view`));
    if (v === "grid") grid.reset(false);
    if (v === "timeline") renderTimeline();
    if (v === "map") renderMarkers();
  }
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
  // a small API for scripts and tests: marker positions in map-container pixels
  window.imgengineGallery = { grid, lightbox, setView, visibleCount: () => visible.length,
    mapPoints: () => (markers ? markers.getLayers().map((m) => map.latLngToContainerPoint(m.getLatLng())) : []) };
  applyFilters();
})();
