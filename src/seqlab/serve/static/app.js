// seqlab's page: pick a model, run it through the JSON API, draw the result and the
// attention heat map. Plain browser JavaScript, no build step, nothing from a CDN.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];

async function loadModels() {
  const response = await fetch("/v1/models");
  const data = await response.json();
  models = data.models;
  $("input").maxLength = data.limits.max_input_chars;
  $("beam").max = data.limits.max_beam;
  $("max-new-tokens").max = data.limits.max_new_tokens;
  for (const m of models) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.kind}, ${m.model_kind})`;
    $("model").append(option);
  }
  showModel();
}

function current() {
  return models.find((m) => m.name === $("model").value);
}

function showModel() {
  const m = current();
  if (!m) return;
  $("predict-options").hidden = m.endpoint !== "predict";
  $("beam").disabled = !m.beam;
  $("generate-options").hidden = m.endpoint !== "generate";
  $("text-input").hidden = m.kind === "caption";
  $("image-input").hidden = m.kind !== "caption";
  $("input").value = m.example || "";
  const metrics = Object.entries(m.metrics)
    .filter(([k]) => k.startsWith("test_"))
    .map(([k, v]) => `${k} ${typeof v === "number" ? v.toFixed(3) : v}`);
  $("model-info").textContent = [m.config.dataset, m.model_kind, ...metrics]
    .filter(Boolean).join(" · ");
  if (m.endpoint === "generate") {
    $("max-new-tokens").value = Math.min(m.config.generate.max_new_tokens, 200);
    $("temperature").value = m.config.generate.temperature;
  }
  clearResults();
}

function clearResults() {
  for (const id of ["output", "heatmap", "stats", "error"]) $(id).textContent = "";
  $("error").hidden = true;
  $("heatmap-title").hidden = true;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function numberOrNull(id) {
  const value = $(id).value;
  return value === "" ? null : Number(value);
}

async function run() {
  const m = current();
  if (!m) return;
  clearResults();
  $("run").disabled = true;
  try {
    if (m.endpoint === "predict") await predict(m);
    else await generate(m);
  } catch (err) {
    showError(String(err));
  } finally {
    $("run").disabled = false;
  }
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message += ": " + (await response.json()).error; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function predict(m) {
  const body = { model: m.name, beam: Number($("beam").value) || 1 };
  if (m.kind === "caption") body.image = await pictureURL();
  else body.input = $("input").value;
  const data = await (await postJSON("/v1/predict", body)).json();
  render(data.result);
  $("stats").textContent = `${(data.seconds * 1000).toFixed(1)} ms on the server`;
}

// The chosen picture as a data: URL; one over MAX_SIDE pixels is scaled down first
// (the model reads a few dozen pixels a side, and the request body is bounded).
const MAX_SIDE = 256;

async function pictureURL() {
  const file = $("image").files[0];
  if (!file) throw new Error("choose a picture first");
  const url = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
  const img = await loaded(url);
  const scale = MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight);
  if (scale >= 1) return url;
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/png");
}

function loaded(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot read this picture"));
    img.src = url;
  });
}

function showPreview() {
  const file = $("image").files[0];
  $("preview").hidden = !file;
  if (file) $("preview").src = URL.createObjectURL(file);
  clearResults();
}

function render(r) {
  const out = $("output");
  if ("caption" in r) { // captioner
    out.textContent = r.caption;
    if (r.attention) pictureHeatmaps(r.tokens, r.attention);
  } else if ("output" in r) { // seq2seq
    out.textContent = r.output;
    if (r.score !== null) $("stats").dataset.score = r.score;
    if (r.attention) heatmap(r.source_tokens, r.output_tokens, r.attention);
  } else if ("label" in r) { // classifier
    out.textContent = `${r.label}  (${(r.probability * 100).toFixed(1)}%)`;
    if (r.attention) heatmap(r.tokens, ["attention"], [r.attention]);
  } else if ("tags" in r) { // tagger
    r.tokens.forEach((token, i) => {
      const span = document.createElement("span");
      span.className = "tag";
      span.textContent = token;
      const tag = document.createElement("small");
      tag.textContent = r.tags[i];
      span.append(tag);
      out.append(span);
    });
  } else if ("forecast" in r) {
    out.textContent = String(r.forecast);
  } else {
    out.textContent = JSON.stringify(r, null, 2);
  }
}

// A table whose cell (i, j) is shaded by how much output token i attended to input
// token j; the darkest cell is the largest weight.
function heatmap(columns, rows, weights) {
  const max = Math.max(1e-9, ...weights.flat());
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  for (const token of columns) {
    const th = document.createElement("th");
    const span = document.createElement("span");
    span.textContent = visible(token);
    th.append(span);
    head.append(th);
  }
  const body = table.createTBody();
  weights.forEach((row, i) => {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = visible(rows[i] ?? "");
    tr.append(th);
    row.forEach((w, j) => {
      const td = tr.insertCell();
      td.className = "cell";
      td.style.background = `rgba(37, 99, 235, ${(w / max).toFixed(3)})`;
      td.title = `${visible(rows[i] ?? "")} → ${visible(columns[j] ?? "")}: ${w.toFixed(3)}`;
    });
  });
  $("heatmap").append(table);
  $("heatmap-title").hidden = false;
}

// One small copy of the picture per output word, shaded where the word looked: each
// (G, G) map is stretched over the picture, brightest on the largest weight.
function pictureHeatmaps(tokens, maps) {
  const side = 96;
  const picture = $("preview");
  maps.forEach((grid, i) => {
    const figure = document.createElement("figure");
    figure.className = "region-map";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = side;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(picture, 0, 0, side, side);
    const max = Math.max(1e-9, ...grid.flat());
    const cell = side / grid.length;
    grid.forEach((row, y) => row.forEach((w, x) => {
      ctx.fillStyle = `rgba(15, 23, 42, ${(0.75 * (1 - w / max)).toFixed(3)})`;
      ctx.fillRect(x * cell, y * cell, cell, cell);
    }));
    const caption = document.createElement("figcaption");
    caption.textContent = tokens[i] ?? "";
    figure.append(canvas, caption);
    $("heatmap").append(figure);
  });
  $("heatmap-title").hidden = false;
}

function visible(token) {
  return token === " " ? "␣" : token;
}

// /v1/generate streams server-sent events over a POST, read with fetch's stream.
async function generate(m) {
  const body = {
    model: m.name,
    prompt: $("input").value,
    max_new_tokens: numberOrNull("max-new-tokens"),
    temperature: numberOrNull("temperature"),
    top_k: numberOrNull("top-k"),
    seed: numberOrNull("seed"),
    stream: true,
  };
  const response = await postJSON("/v1/generate", body);
  const out = $("output");
  out.textContent = body.prompt;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(buffer.slice(0, end), out);
      buffer = buffer.slice(end + 2);
    }
  }
}

function handleEvent(block, out) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  const payload = JSON.parse(data || "{}");
  if (name === "token") out.textContent += payload.text;
  else if (name === "done") {
    $("stats").textContent = `${payload.tokens} tokens in ${payload.seconds.toFixed(2)} s`;
  } else if (name === "error") showError(payload.error);
}

$("model").addEventListener("change", showModel);
$("image").addEventListener("change", showPreview);
$("drop").addEventListener("dragover", (event) => event.preventDefault());
$("drop").addEventListener("drop", (event) => {
  event.preventDefault();
  if (!event.dataTransfer.files.length) return;
  $("image").files = event.dataTransfer.files;
  showPreview();
});
$("run").addEventListener("click", run);
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey || current()?.endpoint === "predict")) {
    event.preventDefault();
    run();
  }
});
loadModels().catch((err) => showError(`could not list the models: ${err}`));
