/**
 * A small accuracy-history chart drawn as inline SVG, no library.
 *
 * Trade-off: the chart is rebuilt from scratch on every update instead of
 * patched. It has at most a few dozen points and changes once per teach, so
 * rebuilding keeps the code short and obviously right.
 */

const SVG = 'http://www.w3.org/2000/svg';
// Plot area inside the 320 x 116 viewBox; the margins hold the axis labels.
const BOX = { left: 34, right: 312, top: 10, bottom: 94 };

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Accuracy as a percentage, whether the server sent a fraction or a percentage. */
export function percent(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return value <= 1 ? value * 100 : value;
}

/** The y-axis: always 0 to 100%, labelled at these values, gridlines at every one. */
export const Y_TICKS = [0, 25, 50, 75, 100];
const Y_LABELS = new Set([0, 50, 100]);

/**
 * Draw history = [{version, heldout, taught}, ...] (accuracies as fractions or
 * null) into svg: two lines over model versions on a fixed 0-100% scale.
 *
 * Trade-off: a fixed scale makes one teach's tenth of a point nearly flat,
 * which is the truth about its size; a y-axis zoomed to the data would draw
 * the same tenth as a cliff. The exact figures are in the panel above it and
 * in what the last teach did, under the buttons.
 */
export function renderChart(svg, history) {
  for (const child of [...svg.childNodes]) if (child.nodeName !== 'title') child.remove();
  const series = {
    heldout: history.map((h) => percent(h.heldout)),
    taught: history.map((h) => percent(h.taught)),
  };
  const n = history.length;
  const x = (i) => (n === 1 ? BOX.right : BOX.left + ((BOX.right - BOX.left) * i) / (n - 1));
  const y = (v) => BOX.bottom - ((BOX.bottom - BOX.top) * Math.min(100, Math.max(0, v))) / 100;

  for (const v of Y_TICKS) {
    svg.append(el('line', { x1: BOX.left, x2: BOX.right, y1: y(v), y2: y(v), class: v === 0 ? 'chart-grid chart-base' : 'chart-grid' }));
    if (Y_LABELS.has(v)) {
      svg.append(el('text', { x: BOX.left - 6, y: y(v) + 3.5, class: 'chart-axis', 'text-anchor': 'end' }, `${v}%`));
    }
  }
  const values = [...series.heldout, ...series.taught].filter((v) => v !== null);
  if (!values.length) {
    svg.append(el('text', { x: (BOX.left + BOX.right) / 2, y: 56, class: 'chart-empty', 'text-anchor': 'middle' }, 'Waiting for the model…'));
    return;
  }
  const first = history[0].version;
  const last = history[n - 1].version;
  if (n > 1) svg.append(el('text', { x: BOX.left, y: 110, class: 'chart-axis', 'text-anchor': 'start' }, `v${first}`));
  svg.append(el('text', { x: BOX.right, y: 110, class: 'chart-axis', 'text-anchor': 'end' }, `v${last}`));

  for (const name of ['heldout', 'taught']) {
    const points = series[name]
      .map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter((p) => p !== null);
    if (!points.length) continue;
    if (points.length > 1) svg.append(el('polyline', { points: points.join(' '), class: `chart-line chart-${name}` }));
    const [cx, cy] = points[points.length - 1].split(',');
    svg.append(el('circle', { cx, cy, r: 3.2, class: `chart-dot chart-${name}` }));
  }
}
