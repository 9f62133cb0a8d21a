/**
 * Numbers into pixels for the inside view: base64 bytes, colour ramps, and mosaics of
 * small tiles painted with one putImageData each.
 *
 * Trade-off: every picture of the inside view is a canvas whose pixels are the data
 * (one canvas pixel per value, scaled up by CSS with crisp edges), and each ramp is a
 * table of 256 colours built once. An update is then a loop over typed arrays and one
 * putImageData per canvas, with no DOM made or styled per value, which keeps a live
 * view that repaints on every stroke cheap.
 */

/** The bytes of a base64 string, or null if it is not base64 of exactly `length` bytes. */
export function decodeBytes(b64, length) {
  if (typeof b64 !== 'string') return null;
  let raw;
  try {
    raw = atob(b64);
  } catch {
    return null;
  }
  if (raw.length !== length) return null;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** '#1b1f2a' -> [27, 31, 42]. */
export function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * A ramp of 256 RGBA colours (a Uint8ClampedArray of 1024) from `from` to `to`, hex
 * colours. `gamma` below 1 lifts the faint end, so weak activations still show.
 */
export function ramp(from, to, gamma = 1) {
  const a = rgb(from);
  const b = rgb(to);
  const table = new Uint8ClampedArray(256 * 4);
  for (let v = 0; v < 256; v++) {
    const t = (v / 255) ** gamma;
    for (let c = 0; c < 3; c++) table[4 * v + c] = a[c] + (b[c] - a[c]) * t;
    table[4 * v + 3] = 255;
  }
  return table;
}

/** Diverging colours: toward `positive` above zero, toward `negative` below, white at zero. */
export class Diverging {
  constructor(negative, positive) {
    this.up = ramp('#ffffff', positive, 0.8);
    this.down = ramp('#ffffff', negative, 0.8);
  }

  /** Write the colour of t in [-1, 1] into `data` at byte offset `at`. */
  put(data, at, t) {
    const table = t >= 0 ? this.up : this.down;
    const v = Math.min(255, Math.round(Math.abs(t) * 255)) * 4;
    data[at] = table[v];
    data[at + 1] = table[v + 1];
    data[at + 2] = table[v + 2];
    data[at + 3] = 255;
  }
}

/**
 * The layout of `count` tiles of `h` x `w` values, `cols` to a row, each value `cell`
 * canvas pixels square, `gap` pixels between tiles: {width, height} of the canvas.
 */
export function mosaicSize({ count, h, w, cols, cell = 1, gap = 1 }) {
  const rows = Math.ceil(count / cols);
  return { width: cols * (w * cell + gap) - gap, height: rows * (h * cell + gap) - gap };
}

/**
 * A canvas that shows `count` tiles of `h` x `w` byte values in a grid, sized once.
 * `paint(values)` colours them through a 256-colour `table` (0 = nothing); the gaps
 * stay transparent, so the card behind them draws the grid. With `markSilent`, a tile
 * whose values are all 0 is hatched in `hatch` (an RGB triple), so that a map that
 * stays blank looks different from one that is merely faint.
 */
export class Mosaic {
  constructor(canvas, layout, table, hatch = [207, 198, 179]) {
    this.canvas = canvas;
    this.layout = { cell: 1, gap: 1, ...layout };
    const { width, height } = mosaicSize(this.layout);
    canvas.width = width;
    canvas.height = height;
    this.ctx = canvas.getContext('2d');
    this.image = this.ctx.createImageData(width, height);
    this.table = table;
    this.hatch = hatch;
  }

  /**
   * Paint the values (Uint8Array of count * h * w, tile by tile, row-major), or clear.
   * Returns the indexes of the tiles that are all 0 (hatched when `markSilent`).
   */
  paint(values, { markSilent = false } = {}) {
    if (!values) {
      this.clear();
      return [];
    }
    const { count, h, w, cols, cell, gap } = this.layout;
    const { data, width } = this.image;
    const table = this.table;
    const silent = [];
    let i = 0;
    for (let k = 0; k < count; k++) {
      const x0 = (k % cols) * (w * cell + gap);
      const y0 = Math.floor(k / cols) * (h * cell + gap);
      let top = 0;
      for (let j = i; j < i + h * w; j++) top = Math.max(top, values[j]);
      const hatched = markSilent && top === 0;
      if (top === 0) silent.push(k);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++, i++) {
          const c = values[i] * 4;
          for (let dy = 0; dy < cell; dy++) {
            const py = y * cell + dy;
            let at = ((y0 + py) * width + x0 + x * cell) * 4;
            for (let dx = 0; dx < cell; dx++, at += 4) {
              const stripe = hatched && (x * cell + dx + py) % 4 === 0;
              data[at] = stripe ? this.hatch[0] : table[c];
              data[at + 1] = stripe ? this.hatch[1] : table[c + 1];
              data[at + 2] = stripe ? this.hatch[2] : table[c + 2];
              data[at + 3] = 255;
            }
          }
        }
      }
    }
    this.ctx.putImageData(this.image, 0, 0);
    return silent;
  }

  /** Every tile blank (value 0), the grid still drawn: the view's resting state. */
  clear() {
    const { count, h, w } = this.layout;
    this.paint(new Uint8Array(count * h * w));
  }
}
