/**
 * The inside view: what pushed the answer (saliency over what the network sees), the
 * feature maps of both convolution layers, the 128 units of the dense layer, and the
 * classic network beside them, all repainted with every prediction while it is open.
 *
 * Trade-off: the server computes the view only for sockets that ask
 * (`{"type":"inside","on":true}`), so opening the view is what turns it on and closing
 * it turns it off again: a page that does not look pays nothing, on either side. The
 * view asks through `onToggle`; the page sends the message and repeats it after a
 * reconnect. While open, each update is a few typed-array loops and one putImageData
 * per canvas (static/paint.js); nothing in the DOM is made per update.
 */

import { ClassicView } from './classic.js';
import { Mosaic, decodeBytes, ramp, rgb } from './paint.js';

// How each layer the server names is laid out: tiles of h x w, cols to a row.
const LAYOUTS = {
  conv1: { count: 32, h: 28, w: 28, cols: 8 },
  conv2: { count: 64, h: 14, w: 14, cols: 8 }, // 8 to a row: tiles big enough to see
  dense1: { count: 128, h: 1, w: 1, cols: 32, cell: 4, gap: 1 },
};

// Activations: paper where a map is silent, dark ink where it fires. The gamma lifts
// weak responses, which are most of them, enough to see.
const ACTIVATION = ramp('#f3f0e8', '#16324a', 0.75);
// Saliency: red pushed toward the answer, blue pushed away (the legend says so).
const TOWARD = rgb('#d0341b');
const AGAINST = rgb('#1f5fc4');
const SEEN_INK = rgb('#1b1f2a');
// How many update times to keep for the curious (window.__inkling.inside.ms).
const KEEP_TIMES = 200;
// Feature-map layers whose blank maps are hatched and named under their picture.
const MAPS = ['conv1', 'conv2'];
// Beyond this many blank maps the caption counts them instead of naming them.
const NAME_AT_MOST = 4;

/** 'map 32', 'maps 5 and 32', 'maps 1, 5 and 32' (indexes from 0; people count from 1). */
export function mapNames(indexes) {
  const names = indexes.map((k) => String(k + 1));
  const list = names.length === 1 ? names[0]
    : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `${names.length === 1 ? 'map' : 'maps'} ${list}`;
}

/**
 * What the caption under a layer says of its blank maps: `silent` on this drawing,
 * `always` of them blank on all `drawings` since the view opened; '' for none.
 */
export function silentText(silent, always, drawings) {
  if (!silent.length) return '';
  const one = silent.length === 1;
  const which = silent.length > NAME_AT_MOST ? `${silent.length} maps` : mapNames(silent);
  let text = `${which[0].toUpperCase()}${which.slice(1)} ${one ? 'stays' : 'stay'} blank on `
    + `this drawing (hatched): ${one ? 'its filter finds' : 'their filters find'} nothing here `
    + `to respond to.`;
  if (always.length && drawings >= 2) {
    const dead = always.length > NAME_AT_MOST ? `${always.length} maps` : mapNames(always);
    const single = always.length === 1;
    text += ` ${dead[0].toUpperCase()}${dead.slice(1)} ${single ? 'has' : 'have'} stayed blank `
      + `on all ${drawings} drawings since you opened this view: ${single ? 'a filter' : 'filters'}`
      + ` that never ${single ? 'fires' : 'fire'}. Training can leave such “dead” filters`
      + ' behind; the layers after simply do without them.';
  }
  return text;
}

/** The largest |value| of a 28x28 list of lists, and the values flat; null if malformed. */
export function flatSaliency(rows) {
  if (!Array.isArray(rows) || rows.length !== 28) return null;
  const flat = new Float32Array(784);
  let top = 0;
  for (let y = 0; y < 28; y++) {
    const row = rows[y];
    if (!Array.isArray(row) || row.length !== 28) return null;
    for (let x = 0; x < 28; x++) {
      const v = Number(row[x]) || 0;
      flat[y * 28 + x] = v;
      top = Math.max(top, Math.abs(v));
    }
  }
  return { flat, top };
}

export class InsideView {
  /** handlers: { onToggle(on) }: the view opened (true) or closed (false). */
  constructor(doc, handlers) {
    const $ = (id) => doc.getElementById(id);
    this.root = $('inside');
    this.handlers = handlers;
    this.seen = $('inside-seen').getContext('2d');
    this.overlay = $('saliency').getContext('2d');
    this.seenImage = this.seen.createImageData(28, 28);
    this.overlayImage = this.overlay.createImageData(28, 28);
    this.whyDigits = [...doc.querySelectorAll('.why-digit')];
    this.mosaics = {};
    for (const [name, layout] of Object.entries(LAYOUTS)) {
      this.mosaics[name] = new Mosaic($(`layer-${name}`), layout, ACTIVATION);
    }
    this.silentNotes = Object.fromEntries(MAPS.map((name) => [name, $(`silent-${name}`)]));
    this.classic = new ClassicView(doc);
    this.debug = {
      open: false, updates: 0, lastHadFields: false, blank: true, ms: [],
      silent: {}, // per map layer: the blank maps of the last drawing painted
      always: {}, // per map layer: the maps blank on every drawing since the view opened
      drawings: 0, // drawings painted since the view opened
    };
    this.root.addEventListener('toggle', () => this.toggled());
    this.clear();
  }

  get isOpen() {
    return this.root.open;
  }

  toggled() {
    const open = this.root.open;
    if (open === this.debug.open) return;
    this.debug.open = open;
    // Opened: old pictures would describe ink that may be gone; the answer to `on` repaints.
    this.debug.always = {};
    this.debug.drawings = 0;
    this.clear();
    if (open) this.classic.load();
    this.handlers.onToggle(open);
  }

  /** Take a prediction message (fresh ones only); paint it if the view is open. */
  show(msg) {
    this.debug.lastHadFields = msg !== null && typeof msg === 'object' && 'layers' in msg;
    if (!this.isOpen || !this.debug.lastHadFields) return; // before the server heard `on`
    const started = performance.now();
    if (msg.layers === null) this.clear();
    else this.paint(msg);
    const ms = this.debug.ms;
    ms.push(performance.now() - started);
    if (ms.length > KEEP_TIMES) ms.shift();
    this.debug.updates += 1;
  }

  paint(msg) {
    const pixels = decodeBytes(msg.image, 784);
    this.paintSaliency(pixels, flatSaliency(msg.saliency));
    const byName = new Map((msg.layers || []).map((layer) => [layer.name, layer]));
    if (this.debug.blank) this.debug.drawings += 1; // the first picture of a new drawing
    for (const [name, mosaic] of Object.entries(this.mosaics)) {
      const layer = byName.get(name);
      const { count, h, w } = mosaic.layout;
      const values = layer ? decodeBytes(layer.values, count * h * w) : null;
      const markSilent = MAPS.includes(name) && values !== null;
      const silent = mosaic.paint(values, { markSilent });
      if (markSilent) this.noteSilent(name, silent);
    }
    const digit = Number.isInteger(msg.digit) ? String(msg.digit) : 'its answer';
    for (const node of this.whyDigits) node.textContent = digit;
    this.classic.show(msg.classic);
    this.root.dataset.blank = 'false';
    this.debug.blank = false;
  }

  /**
   * What the network sees, in grey, under the saliency: each pixel red or blue by the
   * sign of its push and as opaque as the push is strong next to the strongest one.
   */
  paintSaliency(pixels, saliency) {
    const base = this.seenImage.data;
    const over = this.overlayImage.data;
    for (let i = 0; i < 784; i++) {
      const at = 4 * i;
      base[at] = SEEN_INK[0];
      base[at + 1] = SEEN_INK[1];
      base[at + 2] = SEEN_INK[2];
      base[at + 3] = pixels ? pixels[i] * 0.3 : 0; // quiet, so the colours carry
      const s = saliency && saliency.top > 0 ? saliency.flat[i] / saliency.top : 0;
      const c = s >= 0 ? TOWARD : AGAINST;
      over[at] = c[0];
      over[at + 1] = c[1];
      over[at + 2] = c[2];
      over[at + 3] = Math.round(255 * Math.min(1, Math.abs(s)) ** 0.6);
    }
    this.seen.putImageData(this.seenImage, 0, 0);
    this.overlay.putImageData(this.overlayImage, 0, 0);
  }

  /** Hatched maps of a layer: remember them, and say which they are under the picture. */
  noteSilent(name, silent) {
    const before = this.debug.always[name];
    const always = before ? before.filter((k) => silent.includes(k)) : silent;
    this.debug.silent[name] = silent;
    this.debug.always[name] = always;
    const note = this.silentNotes[name];
    note.textContent = silentText(silent, always, this.debug.drawings);
    note.hidden = silent.length === 0;
  }

  /** No ink: every picture blank, the classic network waiting. */
  clear() {
    this.paintSaliency(null, null);
    for (const mosaic of Object.values(this.mosaics)) mosaic.clear();
    for (const note of Object.values(this.silentNotes)) note.hidden = true;
    this.debug.silent = {};
    for (const node of this.whyDigits) node.textContent = 'its answer';
    this.classic.show(null);
    this.root.dataset.blank = 'true';
    this.debug.blank = true;
  }
}
