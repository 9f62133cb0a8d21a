/**
 * The answer: the top digit, its confidence, ten probability bars and the
 * 28x28 image the network saw.
 *
 * Trade-off: the visible answer changes many times a second while drawing, so
 * it is not an aria-live region itself (a screen reader would stutter); a
 * separate hidden live region speaks only the settled answer at pen-up.
 *
 * The big digit is what the eye reads first, so it only shows a digit the network
 * stands behind: a sure answer in the ink's colour, a close call (a runner-up not far
 * behind) in amber beside its rival, and no digit at all ("?") when it is not sure.
 */

import { CLOSE_CALL_RATIO, GROWING_SURE, NOT_SURE_BELOW } from './config.js';
import { decodeBytes } from './paint.js';

/** 'a 7', 'an 8': a digit with its article. */
export function aDigit(d) {
  return `${d === 8 ? 'an' : 'a'} ${d}`;
}

/** The second most probable digit and its probability, or null. */
export function runnerUp(probabilities, top) {
  if (!Array.isArray(probabilities) || probabilities.length !== 10) return null;
  let best = null;
  probabilities.forEach((p, d) => {
    if (d !== top && Number.isFinite(p) && (best === null || p > best.p)) best = { digit: d, p };
  });
  return best;
}

/**
 * 'empty' | 'sure' | 'close' | 'unsure' for a prediction (null means no ink). Below the
 * not-sure threshold (GROWING_SURE while the ink is still `growing`), or for several
 * digits side by side ("12": prediction.several), it is 'unsure': the network reads one
 * digit. Above it, a runner-up with at least
 * CLOSE_CALL_RATIO of the answer's probability makes it a 'close' call.
 */
export function verdictState(prediction, growing = false) {
  if (!prediction || prediction.digit === null || prediction.digit === undefined) return 'empty';
  if (prediction.several === true) return 'unsure';
  if (!(prediction.confidence >= (growing ? Math.max(GROWING_SURE, NOT_SURE_BELOW) : NOT_SURE_BELOW))) return 'unsure';
  const rival = runnerUp(prediction.probabilities, prediction.digit);
  return rival && rival.p >= CLOSE_CALL_RATIO * prediction.confidence ? 'close' : 'sure';
}

/** Decode the base64 image of 784 uint8 pixels; null if it is not that. */
export function decodeImage(b64) {
  return decodeBytes(b64, 784);
}

export class AnswerView {
  constructor(doc) {
    this.verdict = doc.getElementById('verdict');
    this.digit = doc.getElementById('verdict-digit');
    this.text = doc.getElementById('verdict-text');
    this.announcer = doc.getElementById('announce');
    this.personal = doc.getElementById('personal');
    this.seen = doc.getElementById('seen');
    this.seenCtx = this.seen.getContext('2d');
    this.inkRGB = parseRGB(getComputedStyle(this.seen).getPropertyValue('--ink').trim());
    this.lastSpoken = '';
    this.barsEl = doc.getElementById('bars');
    this.bars = this.buildBars(this.barsEl);
  }

  buildBars(container) {
    const bars = [];
    for (let d = 0; d < 10; d++) {
      const item = document.createElement('div');
      item.className = 'bar';
      item.setAttribute('role', 'listitem');
      const pct = document.createElement('span');
      pct.className = 'bar-pct';
      pct.setAttribute('aria-hidden', 'true');
      const track = document.createElement('span');
      track.className = 'bar-track';
      track.setAttribute('aria-hidden', 'true');
      const fill = document.createElement('span');
      fill.className = 'bar-fill';
      track.append(fill);
      const label = document.createElement('span');
      label.className = 'bar-label';
      label.textContent = String(d);
      label.setAttribute('aria-hidden', 'true');
      const spoken = document.createElement('span');
      spoken.className = 'visually-hidden';
      item.append(pct, track, label, spoken);
      container.append(item);
      bars.push({ item, fill, pct, spoken });
    }
    this.setBars(null, null);
    return bars;
  }

  /** Fill the bars; `top` is marked, and `rival` too (the runner-up of a close call). */
  setBars(probabilities, top, rival = null) {
    if (!this.bars) return;
    this.bars.forEach((bar, d) => {
      const p = probabilities ? Math.min(1, Math.max(0, Number(probabilities[d]) || 0)) : 0;
      const rounded = Math.round(p * 100);
      bar.fill.style.transform = `scaleY(${p.toFixed(4)})`;
      bar.pct.textContent = probabilities && rounded >= 1 ? String(rounded) : '';
      bar.spoken.textContent = probabilities ? `${d}: ${rounded}%` : `${d}: no reading`;
      bar.item.classList.toggle('is-top', d === top);
      bar.item.classList.toggle('is-rival', d === rival);
    });
  }

  /** Show nothing to read: the invitation state. */
  showEmpty() {
    this.verdict.dataset.state = 'empty';
    this.barsEl.dataset.state = 'empty';
    this.digit.textContent = '';
    delete this.digit.dataset.rival;
    this.text.textContent = 'Waiting for ink.';
    this.setBars(null, null);
    this.clearSeen();
    this.personal.hidden = true;
    // A fresh drawing may be read as the same digit again; say it again then.
    this.lastSpoken = '';
    this.announcer.textContent = '';
  }

  /**
   * Show a prediction message (null digit: no ink); returns the image's inked pixel count.
   * `growing`: the ink may still grow (the pen is down, or was lifted a moment ago), so
   * an unsure answer asks for more ink instead of doubting that this is a digit.
   */
  show(prediction, { growing = false } = {}) {
    const state = verdictState(prediction, growing);
    if (state === 'empty') {
      this.showEmpty();
      return 0;
    }
    const pct = Math.round(prediction.confidence * 100);
    const rival = state === 'close' ? runnerUp(prediction.probabilities, prediction.digit) : null;
    this.verdict.dataset.state = state;
    this.verdict.dataset.growing = String(growing && state === 'unsure');
    this.barsEl.dataset.state = state;
    // Not sure: no digit to read at a glance; the words name the best guess.
    this.digit.textContent = state === 'unsure' ? '?' : String(prediction.digit);
    if (rival) this.digit.dataset.rival = String(rival.digit);
    else delete this.digit.dataset.rival;
    if (prediction.several === true) this.setText('Several digits? One at a time');
    else if (state === 'unsure' && growing) this.setText('Keep drawing…', ` maybe ${prediction.digit}`);
    else if (state === 'sure') this.setText(`${pct}% sure`);
    else if (state === 'close') this.setText('Close call', `: ${prediction.digit} or ${rival.digit}`);
    else this.setText(`Not sure · maybe ${prediction.digit}`); // the bars give its share
    this.setBars(prediction.probabilities, prediction.digit, rival && rival.digit);
    // The writer's own drawings took part in this answer (docs/protocol.md, Writers).
    this.personal.hidden = prediction.personal !== true;
    const pixels = decodeImage(prediction.image);
    this.drawSeen(pixels);
    return pixels ? pixels.reduce((n, v) => n + (v > 0 ? 1 : 0), 0) : 0;
  }

  /**
   * The words under the digit: `main`, then `extra`, which a phone's narrow answer
   * strip leaves out (the big digit, its rival and the bars say it there).
   */
  setText(main, extra = '') {
    this.text.textContent = main;
    if (!extra) return;
    const more = document.createElement('span');
    more.className = 'verdict-extra';
    more.textContent = extra;
    this.text.append(more);
  }

  /** Speak the settled answer once, when the pen is up. */
  announce(prediction) {
    const state = verdictState(prediction);
    const pct = (p) => `${Math.round(p * 100)}%`;
    let sentence = '';
    if (state === 'sure') {
      sentence = `It reads ${aDigit(prediction.digit)}, ${pct(prediction.confidence)} sure.`;
    } else if (state === 'close') {
      const rival = runnerUp(prediction.probabilities, prediction.digit);
      sentence = `A close call: ${aDigit(prediction.digit)} at ${pct(prediction.confidence)}, `
        + `or ${aDigit(rival.digit)} at ${pct(rival.p)}.`;
    } else if (prediction.several === true) {
      sentence = 'That looks like several digits. Draw one digit at a time.';
    } else if (state === 'unsure') {
      sentence = `Not sure. Maybe ${aDigit(prediction.digit)}, at ${pct(prediction.confidence)}.`;
    }
    if (sentence && sentence !== this.lastSpoken) {
      this.lastSpoken = sentence;
      this.announcer.textContent = sentence;
    }
    if (!sentence) this.lastSpoken = '';
  }

  clearSeen() {
    this.seenCtx.clearRect(0, 0, 28, 28);
  }

  /** Paint the 28x28 image as ink on paper, one canvas pixel per image pixel. */
  drawSeen(pixels) {
    if (!pixels) {
      this.clearSeen();
      return;
    }
    const image = this.seenCtx.createImageData(28, 28);
    const [r, g, b] = this.inkRGB;
    for (let i = 0; i < 784; i++) {
      image.data[4 * i] = r;
      image.data[4 * i + 1] = g;
      image.data[4 * i + 2] = b;
      image.data[4 * i + 3] = pixels[i];
    }
    this.seenCtx.putImageData(image, 0, 0);
  }
}

/** '#1b1f2a' -> [27, 31, 42]; anything else -> a near-black ink. */
function parseRGB(hex) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return [27, 31, 42];
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
