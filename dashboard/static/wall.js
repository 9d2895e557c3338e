// The wall screen: draws a site's snapshot, then applies pushed updates section by section.
// It keeps itself alive: if the stream goes quiet or closes (hub restart, network drop, the
// TV waking up), it reconnects and redraws from a fresh snapshot. No polling, no reloads.
"use strict";

(function () {
  const SITE = document.documentElement.dataset.site;
  const LANG = document.documentElement.lang in window.CANTEEN_STRINGS ? document.documentElement.lang : "en";
  const STRINGS = window.CANTEEN_STRINGS[LANG];
  const QUIET_MS = 40000; // the server sends at least every 15 s
  const DAY_MS = 86400000;
  const number1 = new Intl.NumberFormat(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const integer = new Intl.NumberFormat(LANG, { maximumFractionDigits: 0 });
  // Times are the kitchen's (the hub says which zone), whatever zone the TV's computer has.
  let clockFormat, dateFormat;
  function useZone(timeZone) {
    const zone = timeZone ? { timeZone } : {};
    clockFormat = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", ...zone });
    dateFormat = new Intl.DateTimeFormat(LANG, { weekday: "long", month: "long", day: "numeric", ...zone });
  }
  useZone(null);

  const state = { offsetMs: 0, dayStartMs: 0, staleAfterMs: 1800000, sparkMs: 6 * 3600000, tiles: new Map(), devices: new Map(), curve: [], alerts: [], dining: null, expected: { curve: [], diners: null } };
  let source = null;
  let lastHeard = 0;
  let retryMs = 1000;
  let measured = 0;

  function t(key, values) {
    let text = STRINGS[key] ?? key;
    for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
    return text;
  }
  const serverNow = () => Date.now() + state.offsetMs;
  const $ = (id) => document.getElementById(id);

  function translatePage() {
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const link of document.querySelectorAll("[data-lang]")) {
      link.classList.toggle("current", link.dataset.lang === LANG);
    }
  }

  // --- cold units -----------------------------------------------------------------------
  function tileFor(key) {
    let tile = state.tiles.get(key);
    if (tile) return tile;
    const node = $("tile-template").content.firstElementChild.cloneNode(true);
    node.dataset.key = key;
    tile = { node, spark: [], unit: null };
    state.tiles.set(key, tile);
    const list = $("cold-tiles");
    const after = [...list.children].find((other) => other.dataset.key > key);
    list.insertBefore(node, after || null);
    $("cold-empty").hidden = true;
    return tile;
  }

  function applyUnit(unit, wholeCurve) {
    const tile = tileFor(unit.key);
    tile.unit = unit;
    const node = tile.node;
    node.querySelector(".name").textContent = unit.sensor;
    node.querySelector(".kind").textContent = t(`kind_${unit.kind}`);
    node.querySelector(".celsius").textContent = unit.celsius === null ? "–" : number1.format(unit.celsius);
    if (wholeCurve) tile.spark = unit.spark.slice();
    else for (const point of unit.spark) mergePoint(tile.spark, point);
    drawSpark(tile);
    refreshTile(tile);
  }

  function mergePoint(points, point) {
    const last = points[points.length - 1];
    if (last && last[0] === point[0]) last[1] = point[1];
    else if (!last || last[0] < point[0]) points.push(point);
  }

  function refreshTile(tile) {
    const unit = tile.unit;
    const age = serverNow() - unit.ts_ms;
    const stale = unit.ts_ms === null || age > state.staleAfterMs;
    const shown = stale ? "stale" : unit.state;
    const alert = state.alerts.find((a) => `${a.device}/${a.sensor}` === tile.node.dataset.key);
    tile.node.className = `tile state-${shown}${alert ? ` alerted sev-${alert.severity}` : ""}`;
    tile.node.querySelector(".alert-note").textContent = alert ? alertText(alert) : "";
    const door = tile.node.querySelector(".door");
    if (unit.door_open === null) door.textContent = "";
    else if (unit.door_open) {
      const minutes = Math.max(0, Math.floor((serverNow() - unit.door_ts_ms) / 60000));
      door.textContent = t("doorOpen", { minutes: integer.format(minutes) });
    } else door.textContent = t("doorClosed");
    door.classList.toggle("open", unit.door_open === true);
    const since = tile.node.querySelector(".since");
    since.textContent = stale && unit.ts_ms
      ? t("silentFor", { minutes: integer.format(Math.floor(age / 60000)) })
      : `${t(`state_${shown}`)} · ${t("updated", { time: clockFormat.format(unit.ts_ms) })}`;
  }

  function drawSpark(tile) {
    const end = serverNow();
    const start = end - state.sparkMs;
    tile.spark = tile.spark.filter((p) => p[0] >= start - 120000);
    const svg = tile.node.querySelector(".spark");
    const values = tile.spark.map((p) => p[1]);
    const limit = tile.unit.warning_c;
    let low = Math.min(...values, limit - 1);
    let high = Math.max(...values, limit + 0.5);
    if (!values.length) { low = limit - 5; high = limit + 1; }
    const y = (c) => (50 - ((c - low) / (high - low || 1)) * 46 - 2).toFixed(1);
    const x = (ms) => (((ms - start) / state.sparkMs) * 200).toFixed(1);
    svg.querySelector("polyline").setAttribute("points", tile.spark.map((p) => `${x(p[0])},${y(p[1])}`).join(" "));
    const line = svg.querySelector(".limit");
    line.setAttribute("y1", y(limit));
    line.setAttribute("y2", y(limit));
  }

  // --- dining room ----------------------------------------------------------------------
  function dayStart() {
    while (serverNow() - state.dayStartMs >= DAY_MS) state.dayStartMs += DAY_MS;
    return state.dayStartMs;
  }

  function applyDining(dining, wholeCurve) {
    $("present").textContent = integer.format(dining.present);
    $("capacity").textContent = integer.format(dining.capacity);
    $("entered").textContent = integer.format(dining.entered);
    $("present-meter").style.width = `${Math.min(100, (100 * dining.present) / dining.capacity)}%`;
    if (wholeCurve) state.curve = dining.curve.slice();
    else for (const point of dining.curve) mergePoint(state.curve, point);
    const start = dayStart();
    state.curve = state.curve.filter((p) => p[0] >= start);
    state.dining = dining;
    const expected = state.expected.curve.filter((p) => p[0] >= start);
    const top = Math.max(dining.capacity, ...state.curve.map((p) => p[1]), ...expected.map((p) => p[1]));
    const at = (p) => `${(((p[0] - start) / DAY_MS) * 300).toFixed(1)},${(88 - (p[1] / top) * 84).toFixed(1)}`;
    const pts = state.curve.map(at);
    const svg = $("dining-curve");
    svg.querySelector(".line").setAttribute("points", pts.join(" "));
    svg.querySelector(".expected").setAttribute("points", expected.map(at).join(" "));
    const forecast = $("expected-diners");
    forecast.hidden = state.expected.diners === null;
    if (!forecast.hidden) forecast.textContent = t("expectedDiners", { count: integer.format(state.expected.diners) });
    svg.querySelector(".area").setAttribute("d", pts.length ? `M${pts[0].split(",")[0]},90 L${pts.join(" L")} L${pts[pts.length - 1].split(",")[0]},90 Z` : "");
  }

  function drawAxis() {
    const start = dayStart();
    const axis = document.querySelector(".axis");
    axis.replaceChildren(...[0, 6, 12, 18, 24].map((hour) => {
      const label = document.createElement("span");
      label.textContent = hour === 24 ? "24:00" : clockFormat.format(start + hour * 3600000);
      return label;
    }));
  }

  // --- waste ------------------------------------------------------------------------------
  function applyWaste(waste) {
    $("waste-total").textContent = number1.format(waste.total_g / 1000);
    $("waste-target").textContent = number1.format(waste.target_g / 1000);
    const meter = $("waste-meter");
    meter.style.width = `${Math.min(100, (100 * waste.total_g) / waste.target_g)}%`;
    meter.classList.toggle("over", waste.total_g > waste.target_g);
    const most = Math.max(1, ...Object.values(waste.by_category));
    $("waste-categories").replaceChildren(...Object.entries(waste.by_category).map(([name, grams]) => {
      const item = document.createElement("li");
      item.dataset.category = name;
      item.innerHTML = '<span class="cat"></span><span class="share"><i></i></span><span class="kg"></span>';
      item.querySelector(".cat").textContent = t(`cat_${name}`);
      item.querySelector("i").style.width = `${(100 * grams) / most}%`;
      item.querySelector(".kg").textContent = `${number1.format(grams / 1000)} kg`;
      return item;
    }));
  }

  // --- devices ----------------------------------------------------------------------------
  function applyDevice(device) {
    state.devices.set(device.device, device);
    renderDevices();
  }

  function renderDevices() {
    const items = [...state.devices.values()].sort((a, b) => a.device.localeCompare(b.device)).map((d) => {
      const item = document.createElement("li");
      item.className = d.online === false || d.refused ? "device offline" : "device online";
      const notes = [d.online === false ? t("offlineDevice") : t("online")];
      if (d.backlog) notes.push(t("backlog", { count: integer.format(d.backlog) }));
      if (d.clock_synced === false) notes.push(t("clockUnsynced"));
      if (d.refused) notes.push(t("refused", { count: integer.format(d.refused) }));
      item.innerHTML = '<span class="dot"></span><span class="dev"></span><span class="notes"></span>';
      item.querySelector(".dev").textContent = d.device;
      item.querySelector(".notes").textContent = notes.join(" · ");
      return item;
    });
    if (!items.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = t("noDevices");
      items.push(empty);
    }
    $("device-list").replaceChildren(...items);
  }

  // --- alerts ---------------------------------------------------------------------------
  function alertText(alert) {
    const what = t(`alert_${alert.kind}`, { celsius: alert.value === null ? "–" : number1.format(alert.value) });
    const state = alert.state === "acknowledged" ? ` · ${t("acknowledged")}` : "";
    return `${t(`severity_${alert.severity}`)}: ${what}${state}`;
  }

  function applyAlerts(alerts) {
    state.alerts = alerts;
    const banner = $("alert-banner");
    banner.hidden = alerts.length === 0;
    banner.className = `alert-banner${alerts.some((a) => a.severity === "critical") ? "" : " sev-warning"}`;
    $("alert-items").replaceChildren(...alerts.map((alert) => {
      const item = document.createElement("li");
      item.className = `${alert.state} sev-${alert.severity}`;
      item.dataset.alert = alert.id;
      const since = clockFormat.format(Date.parse(alert.since));
      item.textContent = `${alert.sensor || alert.device} — ${alertText(alert)} (${t("since", { time: since })})`;
      if (alert.delivery === "failed") {
        const note = document.createElement("span");
        note.className = "undelivered";
        note.textContent = t("undelivered");
        item.append(note);
      }
      return item;
    }));
    for (const tile of state.tiles.values()) refreshTile(tile);
  }

  // --- the stream -------------------------------------------------------------------------
  function applySnapshot(picture) {
    state.offsetMs = picture.now_ms - Date.now();
    state.dayStartMs = picture.day_start_ms;
    useZone(picture.timezone);
    state.staleAfterMs = picture.stale_after_s * 1000;
    state.sparkMs = picture.sparkline_hours * 3600000;
    $("history-note").hidden = picture.history_loaded;
    $("cold-tiles").replaceChildren();
    state.tiles.clear();
    state.alerts = picture.alerts || [];
    state.devices.clear();
    for (const unit of picture.cold) applyUnit(unit, true);
    $("cold-empty").hidden = picture.cold.length > 0;
    state.expected = picture.expected || { curve: [], diners: null };
    applyDining(picture.dining, true);
    applyWaste(picture.waste);
    for (const device of picture.devices) state.devices.set(device.device, device);
    renderDevices();
    applyAlerts(picture.alerts || []);
    drawAxis();
  }

  function applyUpdate(update) {
    for (const part of update.sections) {
      if (part.cold) applyUnit(part.cold, false);
      else if (part.dining) applyDining(part.dining, false);
      else if (part.waste) applyWaste(part.waste);
      else if (part.device) applyDevice(part.device);
      else if (part.alerts) applyAlerts(part.alerts);
      else if (part.expected) {
        state.expected = part.expected;
        if (state.dining) applyDining({ ...state.dining, curve: [] }, false);
      }
    }
  }

  function setLink(status) {
    const link = $("link");
    link.className = `link link-${status}`;
    link.textContent = t(status === "live" ? "live" : status === "offline" ? "offline" : "connecting");
    document.body.dataset.link = status;
  }

  function heard() {
    lastHeard = Date.now();
    retryMs = 1000;
  }

  function connect() {
    if (source) source.close();
    setLink("connecting");
    source = new EventSource(`/api/sites/${encodeURIComponent(SITE)}/stream`);
    lastHeard = Date.now();
    // performance marks let a benchmark (bench/wall_screen.py) time the page's own work.
    source.addEventListener("snapshot", (event) => {
      heard();
      const started = performance.now();
      applySnapshot(JSON.parse(event.data));
      setLink("live");
      performance.measure("snapshot", { start: started });
    });
    source.addEventListener("update", (event) => {
      heard();
      const started = performance.now();
      applyUpdate(JSON.parse(event.data));
      performance.measure("update", { start: started, detail: event.data.length });
      if (++measured % 1000 === 0) performance.clearMeasures("update"); // a kiosk runs for months
    });
    source.addEventListener("alive", () => heard());
    source.onerror = () => {
      setLink("offline");
      if (source.readyState === EventSource.CLOSED) reconnectLater();
    };
  }

  function reconnectLater() {
    if (source) source.close();
    source = null;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  }

  function everySecond() {
    $("clock").textContent = `${dateFormat.format(Date.now())} ${clockFormat.format(Date.now())}`;
    if (source && Date.now() - lastHeard > QUIET_MS) reconnectLater();
  }

  function everyMinute() {
    for (const tile of state.tiles.values()) { refreshTile(tile); drawSpark(tile); }
    drawAxis();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && Date.now() - lastHeard > QUIET_MS / 2) connect();
  });
  translatePage();
  everySecond();
  setInterval(everySecond, 1000);
  setInterval(everyMinute, 30000);
  connect();
})();
