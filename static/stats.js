/**
 * The accuracy panel of everyone's model: held-out accuracy, the drawings it learned and
 * how many of them it read right before learning them, its version, and their history
 * since the page opened.
 *
 * Trade-off: the history is what this page has witnessed (hello, taught and
 * model pushes), not the server's full record; it needs no extra endpoint and
 * shows exactly the changes a person watched happen.
 */

import { HISTORY_LENGTH } from './config.js';
import { percent, renderChart } from './chart.js';

/** '98.2%' for 0.982 (or 98.2); '—' for null. */
export function formatAccuracy(value) {
  const p = percent(value);
  return p === null ? '—' : `${p.toFixed(1)}%`;
}

export class StatsView {
  constructor(doc) {
    this.heldout = doc.getElementById('acc-heldout');
    this.taught = doc.getElementById('acc-taught');
    this.version = doc.getElementById('model-version');
    this.samples = doc.getElementById('samples');
    this.chart = doc.getElementById('chart');
    this.history = [];
    this.current = { version: null, accuracy: { heldout: null, taught: null }, samples: null };
    renderChart(this.chart, this.history);
  }

  /** The newest model version this page knows of, or null. */
  get modelVersion() {
    return this.current.version;
  }

  /** The held-out accuracy of that version (a fraction or a percentage), or null. */
  get heldoutAccuracy() {
    return this.current.accuracy.heldout;
  }

  /**
   * Take news about the model: {version, accuracy: {heldout, taught}, samples},
   * any field possibly missing. Older news than what is shown is ignored.
   */
  update({ version, accuracy, samples }) {
    if (!Number.isInteger(version)) return;
    const known = this.current.version;
    if (known !== null && version < known) return;
    const next = { ...this.current, version };
    if (accuracy && typeof accuracy === 'object') {
      next.accuracy = {
        heldout: 'heldout' in accuracy ? accuracy.heldout : next.accuracy.heldout,
        taught: 'taught' in accuracy ? accuracy.taught : next.accuracy.taught,
      };
    }
    if (Number.isInteger(samples)) next.samples = samples;
    const grew = known !== null && version > known;
    this.current = next;
    this.render(grew);
    this.record(next);
  }

  record({ version, accuracy }) {
    const entry = { version, heldout: accuracy.heldout, taught: accuracy.taught };
    const last = this.history[this.history.length - 1];
    if (last && last.version === version) this.history[this.history.length - 1] = entry;
    else this.history.push(entry);
    if (this.history.length > HISTORY_LENGTH) this.history.shift();
    renderChart(this.chart, this.history);
  }

  render(grew) {
    const { version, accuracy, samples } = this.current;
    this.heldout.textContent = formatAccuracy(accuracy.heldout);
    // Nothing learned yet: say so, rather than a dash that reads like a missing figure.
    const none = percent(accuracy.taught) === null;
    this.taught.textContent = none ? 'none yet' : formatAccuracy(accuracy.taught);
    this.taught.classList.toggle('is-none', none);
    this.version.textContent = `v${version}`;
    if (samples !== null) {
      this.samples.textContent = samples.toLocaleString('en');
    }
    if (grew) {
      // Restart the little highlight that says "this just changed".
      for (const node of [this.version, this.heldout, this.taught, this.samples]) {
        node.classList.remove('is-fresh');
        void node.offsetWidth;
        node.classList.add('is-fresh');
      }
    }
  }
}
