// The draw-a-digit page: a canvas, the drawing turned into load_digits' 8x8 format, POST /predict, the answer.
"use strict";

const GRID = 8;      // load_digits: 8x8 cells ...
const LEVELS = 16;   // ... each 0-16 (the count of ink pixels in a 4x4 block of the original 32x32 bitmaps)

// Ink (0..1 per pixel, row-major, width x height) -> 64 grey levels in load_digits' format:
// crop to the ink's bounding box, keep the aspect ratio (the longer side spans the 8 cells, the shorter side is
// centred), average the ink over each cell's area (exact fractional overlaps), scale so the darkest cell is 16
// (98% of load_digits images reach 16) and round to integers. Returns null for an empty drawing.
function toDigits(ink, width, height) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const boxW = x1 - x0 + 1, boxH = y1 - y0 + 1, side = Math.max(boxW, boxH), cell = side / GRID;
  const left = x0 - (side - boxW) / 2, top = y0 - (side - boxH) / 2;
  // overlap[k][p]: how much of pixel p (covering [p, p+1)) lies in cell k (covering [start + k*cell, +cell))
  const overlaps = (start, from, to) => {
    const w = [];
    for (let k = 0; k < GRID; k++) {
      const lo = start + k * cell, hi = lo + cell, row = new Float64Array(to - from + 1);
      for (let p = from; p <= to; p++) row[p - from] = Math.max(0, Math.min(p + 1, hi) - Math.max(p, lo));
      w.push(row);
    }
    return w;
  };
  const wx = overlaps(left, x0, x1), wy = overlaps(top, y0, y1);
  const sums = new Float64Array(GRID * GRID);
  for (let y = y0; y <= y1; y++) {
    const byCell = new Float64Array(GRID);  // this pixel row's ink per cell column
    for (let x = x0; x <= x1; x++) {
      const v = ink[y * width + x];
      if (v > 0) for (let q = 0; q < GRID; q++) byCell[q] += wx[q][x - x0] * v;
    }
    for (let r = 0; r < GRID; r++) {
      const weight = wy[r][y - y0];
      if (weight > 0) for (let q = 0; q < GRID; q++) sums[r * GRID + q] += weight * byCell[q];
    }
  }
  const means = Array.from(sums, (s) => s / (cell * cell));
  const darkest = Math.max(...means);
  return {
    pixels: means.map((m) => Math.round((LEVELS * m) / darkest)),
    means: means,
    box: { x: x0, y: y0, width: boxW, height: boxH },
  };
}

// The page's preprocessing, close to how load_digits' images were made (NIST's normalized 32x32 bitmaps, 4x4
// blocks of "on" pixels counted): the strokes as drawn (points, not ink) are straightened (the slant measured from
// the ink's second moments is sheared away), scaled to fill the box's height keeping the aspect ratio but no wider
// than WIDTH of it (load_digits' digits are all 8 cells tall and 5-6 wide), centred, and drawn again with one pen
// (PEN of the box) whatever pen, zoom or screen drew them; the bitmap is thresholded to on/off and toDigits turns
// it into the 64 grey levels.
const NORMAL = 32;
const PEN = 0.17;
const WIDTH = 0.7;
const DESLANT = 1;
const STRETCH = 1.6;

// The slant dx/dy of the drawing: covariance of x and y over var(y), every segment weighted by its length.
function slantOf(strokes) {
  let total = 0, mx = 0, my = 0;
  const segments = [];
  for (const stroke of strokes) {
    for (let i = 1; i < stroke.length; i++) {
      const a = stroke[i - 1], b = stroke[i], length = Math.hypot(b.x - a.x, b.y - a.y);
      segments.push({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, w: length });
      total += length;
    }
  }
  if (total === 0) return 0;
  for (const s of segments) { mx += (s.w * s.x) / total; my += (s.w * s.y) / total; }
  let cxy = 0, cyy = 0;
  for (const s of segments) { cxy += s.w * (s.x - mx) * (s.y - my); cyy += s.w * (s.y - my) ** 2; }
  return cyy > 0 ? Math.max(-1, Math.min(1, cxy / cyy)) : 0;
}

function normalizedInk(strokes) {
  if (strokes.flat().length === 0) return null;
  const shear = DESLANT * slantOf(strokes);
  const straight = strokes.map((stroke) => stroke.map((p) => ({ x: p.x - shear * p.y, y: p.y })));
  const points = straight.flat();
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(...xs) - x0, h = Math.max(...ys) - y0;
  const pen = PEN * NORMAL, inner = NORMAL - pen;
  const sy = Math.min((WIDTH * inner) / Math.max(w, 1e-6), inner / Math.max(h, 1e-6));
  const sx = Math.min((WIDTH * inner) / Math.max(w, 1e-6), STRETCH * sy);
  const dx = pen / 2 + (inner - w * sx) / 2 - x0 * sx, dy = pen / 2 + (inner - h * sy) / 2 - y0 * sy;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = NORMAL;
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = pen;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = ctx.fillStyle = "#000";
  for (const stroke of straight) {
    ctx.beginPath();
    ctx.arc(stroke[0].x * sx + dx, stroke[0].y * sy + dy, pen / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    stroke.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, p.x * sx + dx, p.y * sy + dy));
    ctx.stroke();
  }
  return inkOf(canvas).map((v) => (v >= 0.5 ? 1 : 0));
}

// Strokes ([[{x, y}, ...], ...] in any coordinates) -> what the page sends: toDigits of the normalized bitmap.
function strokesToDigits(strokes) {
  const ink = normalizedInk(strokes);
  return ink && toDigits(ink, NORMAL, NORMAL);
}

function inkOf(canvas) {
  const { width, height } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const ink = new Float64Array(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i + 3] / 255;  // alpha: the canvas is transparent
  return ink;
}

function drawPreview(canvas, pixels) {
  const ctx = canvas.getContext("2d"), size = canvas.width / GRID;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!pixels) return;
  pixels.forEach((v, i) => {
    const shade = Math.round(255 * (1 - v / LEVELS));
    ctx.fillStyle = `rgb(${shade},${shade},${shade})`;
    ctx.fillRect((i % GRID) * size, Math.floor(i / GRID) * size, size, size);
  });
}

// Below this probability for the top digit the page says "not sure" (docs/serving.md): the model's best guess is
// still shown, with the next two.
const NOT_SURE_BELOW = 0.6;

// The three most probable digits, best first, with their probabilities; "not sure" when the best is below
// NOT_SURE_BELOW. A model without probabilities (e.g. linear SVM) gives its one answer with probability 1.
function showTopThree(labels, probabilities) {
  const ranked = labels.map((label, k) => ({ label, p: probabilities[k] })).sort((a, b) => b.p - a.p).slice(0, 3);
  const list = document.getElementById("top3");
  list.replaceChildren(...ranked.map(({ label, p }) => {
    const item = document.createElement("li");
    item.dataset.label = String(label);
    item.dataset.probability = String(p);
    item.textContent = `${label}: ${(100 * p).toFixed(1)} %`;
    return item;
  }));
  const unsure = ranked.length > 0 && ranked[0].p < NOT_SURE_BELOW;
  const note = document.getElementById("confidence");
  note.textContent = unsure ? `not sure (best guess below ${100 * NOT_SURE_BELOW} %)` : "";
  note.dataset.sure = String(!unsure);
}

function showAnswer(answer) {
  const digit = document.getElementById("digit"), bars = document.getElementById("bars");
  const prediction = answer.predictions[0];
  digit.textContent = String(prediction);
  digit.dataset.digit = String(prediction);
  bars.replaceChildren();
  const probabilities = answer.probabilities ? answer.probabilities[0] : null;
  const classes = answer.classes || [prediction];
  showTopThree(classes, classes.map((label, k) => (probabilities ? probabilities[k] : label === prediction ? 1 : 0)));
  (answer.classes || []).forEach((label, k) => {
    const p = probabilities ? probabilities[k] : (label === prediction ? 1 : 0);
    const item = document.createElement("li");
    item.dataset.label = String(label);
    item.dataset.probability = String(p);
    if (label === prediction) item.className = "top";
    item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span>' +
      '<span class="value"></span>';
    item.querySelector(".label").textContent = String(label);
    item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    item.querySelector(".value").textContent = `${(100 * p).toFixed(1)} %`;
    bars.appendChild(item);
  });
}

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function setup() {
  const pad = document.getElementById("pad"), preview = document.getElementById("preview");
  const ctx = pad.getContext("2d");
  ctx.lineWidth = pad.width / 14;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = ctx.fillStyle = "#000";
  let drawing = false, last = null, pending = null;
  let strokes = [];  // every stroke's points in canvas pixels: what strokesToDigits reads

  const point = (event) => {
    const rect = pad.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * pad.width) / rect.width,
             y: ((event.clientY - rect.top) * pad.height) / rect.height };
  };
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
    strokes.push([last]);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);  // a dot, even if the pointer never moves
    ctx.fill();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = point(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(next.x, next.y);
    ctx.stroke();
    strokes[strokes.length - 1].push(next);
    last = next;
  });
  const stop = () => {
    if (!drawing) return;
    drawing = false;
    if (document.getElementById("live").checked) predict();
  };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);

  async function predict() {
    const digits = strokesToDigits(strokes);
    drawPreview(preview, digits && digits.pixels);
    if (!digits) {
      setStatus("draw a digit first", true);
      return;
    }
    const request = (pending = fetch("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ instances: [digits.pixels] }),
    }));
    try {
      const response = await request;
      const answer = await response.json();
      if (request !== pending) return;  // a newer prediction is on its way
      if (!response.ok) {
        setStatus(`refused (${response.status}): ${answer.detail}`, true);
        return;
      }
      showAnswer(answer);
      setStatus(`answered by ${answer.model} ${answer.version}`);
      document.getElementById("status").dataset.version = answer.version;
    } catch (error) {
      setStatus(`the service did not answer: ${error}`, true);
    }
  }

  document.getElementById("predict").addEventListener("click", predict);
  document.getElementById("clear").addEventListener("click", () => {
    ctx.clearRect(0, 0, pad.width, pad.height);
    strokes = [];
    drawPreview(preview, null);
    document.getElementById("digit").textContent = "?";
    document.getElementById("digit").dataset.digit = "";
    document.getElementById("bars").replaceChildren();
    document.getElementById("top3").replaceChildren();
    document.getElementById("confidence").textContent = "";
    setStatus("no prediction yet");
  });
}

window.DigitPad = { toDigits, strokesToDigits };
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
else setup();
