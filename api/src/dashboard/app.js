// pvflow's dashboard: reads the API's JSON with the token given once (kept for this tab only)
// and builds every element from data with textContent, never from HTML strings.
"use strict";

const CLASSES = ["normal", "line_line", "line_ground", "open_circuit", "partial_shading", "arc_fault"];
const COLOURS = ["#4caf50", "#e53935", "#8e24aa", "#fb8c00", "#fdd835", "#1e88e5"];
const NO_DIAGNOSIS = "#cfd4db";

const page = document.getElementById("page");
const status = document.getElementById("status");

function token() { return sessionStorage.getItem("pvflow-token"); }

async function api(path, as) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(path, { headers });
  if (response.status === 401) {
    sessionStorage.removeItem("pvflow-token");
    showLogin();
    throw new Error("the API needs its token");
  }
  if (as === "blob") return response.ok ? response.blob() : null;
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

function table(columns, rows) {
  const head = el("tr", {}, ...columns.map(([title]) => el("th", { text: title })));
  const body = rows.map((row) => el("tr", {}, ...columns.map(([, cell]) => {
    const value = cell(row);
    return value instanceof Node ? el("td", {}, value) : el("td", { text: value ?? "" });
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

function deviceLink(id, date) {
  const query = date ? "?date=" + encodeURIComponent(date) : "";
  return el("a", { href: "#/device/" + encodeURIComponent(id) + query, text: id });
}

function time(text) { return text ? text.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "") : ""; }
function kwh(value) { return value == null ? "" : value.toFixed(2) + " kWh"; }

function legend() {
  return el("div", { class: "legend" },
    ...CLASSES.map((name, code) => el("span", {},
      el("span", { class: "swatch", style: "background:" + COLOURS[code] }), name)),
    el("span", {}, el("span", { class: "swatch", style: "background:" + NO_DIAGNOSIS }), "no diagnosis"));
}

function heatmapCanvas(map) {
  const cell = map.devices.length > 200 ? 2 : 6;
  const canvas = el("canvas", {
    id: "heatmap", width: map.window_starts.length * cell, height: map.devices.length * cell,
    "aria-label": "devices by windows, coloured by class",
  });
  const ctx = canvas.getContext("2d");
  let faulty = 0;
  map.fault_codes.forEach((codes, row) => codes.forEach((code, column) => {
    if (code != null && code !== 0) faulty += 1;
    ctx.fillStyle = code == null ? NO_DIAGNOSIS : COLOURS[code] || "#000";
    ctx.fillRect(column * cell, row * cell, cell, cell);
  }));
  canvas.dataset.faultyCells = String(faulty);
  canvas.dataset.devices = String(map.devices.length);
  canvas.addEventListener("click", (event) => {
    const row = Math.floor(event.offsetY / cell);
    if (map.devices[row]) location.hash = "#/device/" + encodeURIComponent(map.devices[row]) + "?date=" + map.date;
  });
  return canvas;
}

function episodesTable(episodes) {
  return table([
    ["Device", (e) => deviceLink(e.device_id)],
    ["Class", (e) => e.fault_label],
    ["Severity", (e) => el("span", { class: e.severity, text: e.severity })],
    ["State", (e) => e.state],
    ["First window", (e) => time(e.first_window_start)],
    ["Last window", (e) => time(e.last_window_start)],
    ["Windows", (e) => String(e.windows)],
    ["Energy lost", (e) => kwh(e.energy_lost_kwh)],
  ], episodes);
}

async function fleetPage() {
  const fleet = await api("/fleet?limit=50");
  const heatmap = await api("/fleet/heatmap?date=" + fleet.date);
  const recent = await api("/episodes?from=" + fleet.date + "&to=" + fleet.date);
  const chips = el("div", { class: "classes", id: "classes" }, ...Object.entries(fleet.classes).map(([name, count]) =>
    el("span", { class: "chip", "data-class": name, style: "background:" + (COLOURS[CLASSES.indexOf(name)] || NO_DIAGNOSIS), text: name + ": " + count })));
  const worst = table([
    ["Device", (d) => deviceLink(d.device_id, fleet.date)],
    ["Open episodes", (d) => String(d.open_episodes)],
    ["Worst open", (d) => d.worst_open_severity ? el("span", { class: d.worst_open_severity, text: d.worst_open_severity }) : ""],
    ["Energy lost", (d) => kwh(d.energy_lost_kwh)],
    ["Fault windows", (d) => d.fault_windows + " / " + d.windows],
    ["Last diagnosis", (d) => d.last_fault_label + " at " + time(d.last_window_start)],
  ], fleet.devices);
  worst.id = "worst-first";
  page.replaceChildren(
    section("Fleet on " + fleet.date, chips),
    section("Devices x windows", legend(), heatmapCanvas(heatmap)),
    section("Worst first", worst),
    section("Open and recent episodes", episodesTable(recent.episodes)),
  );
}

function lineChart(title, unit, windows, channel, shaded) {
  const width = 900, height = 120, pad = 30;
  const points = [];
  windows.forEach((w) => {
    const start = Date.parse(w.window_start);
    (w[channel] || []).forEach((value, slot) => {
      if (value != null && Number.isFinite(value)) points.push([start + slot * 20000, value]);
    });
  });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  if (points.length === 0) return svg;
  const t0 = Date.parse(windows[0].window_start), t1 = Date.parse(windows[windows.length - 1].window_start) + 1280000;
  const values = points.map((p) => p[1]);
  const low = Math.min(...values), high = Math.max(...values) || 1;
  const x = (t) => pad + (t - t0) / (t1 - t0) * (width - pad - 5);
  const y = (v) => height - 15 - (v - low) / (high - low || 1) * (height - 30);
  const ns = (tag, attributes) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  };
  for (const [from, to, colour] of shaded) {
    svg.append(ns("rect", { x: x(from), y: 0, width: Math.max(2, x(to) - x(from)), height, fill: colour, "fill-opacity": "0.18", class: "episode" }));
  }
  svg.append(ns("path", { d: "M" + points.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("L"), fill: "none", stroke: "#1d2430", "stroke-width": "1" }));
  const label = ns("text", { x: pad, y: 12, "font-size": "12" });
  label.textContent = title + " (" + unit + "), " + low.toFixed(1) + " to " + high.toFixed(1);
  svg.append(label);
  return svg;
}

async function devicePage(id, date) {
  const query = date ? "?date=" + encodeURIComponent(date) : "";
  const series = await api("/devices/" + encodeURIComponent(id) + "/series" + query);
  const day = series.date;
  const episodes = await api("/episodes?device_id=" + encodeURIComponent(id) + "&from=" + day + "&to=" + day);
  const shaded = episodes.episodes.map((e) => [Date.parse(e.first_window_start), Date.parse(e.last_window_start) + 1280000,
    COLOURS[CLASSES.indexOf(e.fault_label)] || "#e53935"]);
  const charts = el("div", { class: "charts" },
    lineChart("voltage", "V", series.windows, "voltage_series", shaded),
    lineChart("current", "A", series.windows, "current_series", shaded),
    lineChart("temperature", "°C", series.windows, "temperature_series", shaded),
    lineChart("irradiance", "W/m²", series.windows, "irradiance_series", shaded));
  const picture = el("div", { id: "scalogram" }, el("p", { text: "Choose a window to see its scalogram." }));
  const choose = el("select", { id: "window", "aria-label": "window" },
    ...series.windows.map((w) => el("option", { value: w.window_start, text: time(w.window_start) + "  " + (w.fault_label || "no diagnosis") })));
  const show = async () => {
    const blob = await api("/devices/" + encodeURIComponent(id) + "/scalogram.png?window_start=" + encodeURIComponent(choose.value), "blob");
    picture.replaceChildren(blob
      ? el("img", { class: "scalogram", alt: "scalogram of the window at " + choose.value, src: URL.createObjectURL(blob) })
      : el("p", { text: "This window has too few valid readings for a scalogram." }));
  };
  choose.addEventListener("change", show);
  const faulty = series.windows.find((w) => w.fault_code != null && w.fault_code !== 0);
  if (faulty) choose.value = faulty.window_start;
  page.replaceChildren(
    section("Device " + id + " on " + day, charts, legend()),
    section("Episodes", episodesTable(episodes.episodes)),
    section("Scalogram (voltage, current, temperature, irradiance; scale down, time across)", choose, picture),
  );
  await show();
}

async function episodesPage() {
  const open = await api("/episodes?state=open");
  const recent = await api("/episodes");
  page.replaceChildren(section("Open episodes", episodesTable(open.episodes)),
    section("Episodes of " + (recent.to || "the newest day"), episodesTable(recent.episodes)));
}

async function runsPage() {
  const live = await api("/runs");
  const recorded = await api("/runs/recorded");
  const count = (r, name) => r.manifest && r.manifest.counts && r.manifest.counts[name] != null ? String(r.manifest.counts[name]) : "";
  const columns = [
    ["Run", (r) => r.run_id], ["Plan", (r) => r.plan], ["Date", (r) => r.date], ["State", (r) => r.state],
    ["Windows", (r) => count(r, "windows")], ["Scored", (r) => count(r, "windows_scored")],
    ["Quarantined", (r) => count(r, "messages_quarantined")],
    ["Episodes closed / open", (r) => count(r, "episodes_closed") && count(r, "episodes_closed") + " / " + count(r, "episodes_open")],
  ];
  const recordedTable = table(columns, recorded);
  recordedTable.id = "recorded-runs";
  page.replaceChildren(section("Runs of this API", table(columns, live)),
    section("Runs recorded in silver and gold (every run's manifest)", recordedTable));
}

function showLogin() {
  const form = document.getElementById("login");
  form.hidden = false;
  page.replaceChildren();
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("pvflow-token", document.getElementById("token").value);
  document.getElementById("login").hidden = true;
  route();
});

async function route() {
  const [path, query] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  status.textContent = "loading";
  try {
    if (path && path.startsWith("/device/")) await devicePage(decodeURIComponent(path.slice(8)), params.get("date"));
    else if (path === "/episodes") await episodesPage();
    else if (path === "/runs") await runsPage();
    else await fleetPage();
    status.textContent = "";
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = error.message;
    if (error.status === 404) page.replaceChildren(section("Nothing to show yet", el("p", { text: error.message })));
  }
}

window.addEventListener("hashchange", route);
route();
