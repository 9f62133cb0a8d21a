/**
 * The classic network beside the inside view: the textbook 784-15-10 sigmoid network,
 * its 15 hidden units as pictures of their weights, each lit by how strongly it answers
 * the drawing, and the digit it reads.
 *
 * Trade-off: the weights (GET /api/classic, about 16 kB) are fetched the first time
 * the view opens, not with the page: most people never look inside, and the pictures
 * never change (the classic network does not learn). Each prediction then only moves 15
 * bars and 15 opacities.
 */

import { percent } from './chart.js';
import { decodeBytes, Diverging } from './paint.js';

// Weights above zero: ink there turns the unit on; below zero: ink there turns it off.
export const WEIGHT_COLOURS = new Diverging('#2a62b8', '#c63d22');
// A unit that does not answer the drawing at all is still faintly visible.
const DIM = 0.22;

/** The int8 values of the base64 `weights` of GET /api/classic, or null. */
export function decodeWeights(body) {
  if (!body || !Number.isInteger(body.units) || body.units <= 0) return null;
  const bytes = decodeBytes(body.weights, body.units * 784);
  return bytes && new Int8Array(bytes.buffer);
}

export class ClassicView {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.grid = $('units');
    this.says = $('classic-says');
    this.about = $('classic-accuracy');
    this.units = []; // [{figure, fill}] once the weights are here
    this.loading = null;
    this.waiting = null; // an answer that came before the weights
    this.absent = false; // the server has no classic network
  }

  /** Fetch and draw the weight pictures, once; later calls share the first. */
  load() {
    if (!this.loading) {
      this.loading = fetch('/api/classic', { headers: { Accept: 'application/json' } })
        .then((r) => {
          if (r.status === 404) return null; // a server without one: said below
          if (!r.ok) throw new Error(`GET /api/classic: ${r.status}`);
          return r.json();
        })
        .then((body) => this.build(body))
        .catch(() => {
          this.loading = null; // try again at the next opening
          this.says.textContent = 'The classic network could not be loaded just now.';
        });
    }
    return this.loading;
  }

  build(body) {
    const weights = decodeWeights(body);
    if (!weights) {
      this.absent = true;
      this.says.textContent = 'This server has no classic network to show.';
      return;
    }
    const acc = percent(body.accuracy);
    if (acc !== null) this.about.textContent = `, ${acc.toFixed(1)}% right on MNIST test digits`;
    for (let j = 0; j < body.units; j++) this.units.push(this.unit(j, weights.subarray(j * 784, (j + 1) * 784)));
    this.show(this.waiting);
  }

  /** One hidden unit: its 28x28 weight picture and a bar for its answer, made once. */
  unit(j, w) {
    const figure = this.doc.createElement('figure');
    figure.className = 'unit';
    const canvas = this.doc.createElement('canvas');
    canvas.width = 28;
    canvas.height = 28;
    canvas.className = 'unit-picture';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `Hidden unit ${j + 1}: its weights, red where ink turns it on, blue where ink turns it off`);
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) WEIGHT_COLOURS.put(image.data, 4 * i, w[i] / 127);
    ctx.putImageData(image, 0, 0);
    const bar = this.doc.createElement('span');
    bar.className = 'unit-bar';
    bar.setAttribute('aria-hidden', 'true');
    const fill = this.doc.createElement('span');
    fill.className = 'unit-fill';
    bar.append(fill);
    figure.append(canvas, bar);
    this.grid.append(figure);
    return { figure, fill };
  }

  /** The classic answer of a prediction ({digit, confidence, hidden}), or null: none. */
  show(classic) {
    this.waiting = classic;
    if (this.absent) return;
    const ok = classic && Number.isInteger(classic.digit) && Array.isArray(classic.hidden);
    this.units.forEach(({ figure, fill }, j) => {
      const h = ok ? Math.min(1, Math.max(0, Number(classic.hidden[j]) || 0)) : 0;
      fill.style.transform = `scaleX(${h.toFixed(3)})`;
      figure.style.opacity = ok ? (DIM + (1 - DIM) * h).toFixed(3) : '1';
    });
    if (!this.units.length) return; // still loading: the answer is kept for build()
    this.says.textContent = ok
      ? `The classic network says ${classic.digit} (${Math.round(classic.confidence * 100)}%).`
      : 'The classic network reads the same pixels as you draw.';
  }
}
