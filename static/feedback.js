/**
 * The slot under the teach buttons: the hint, a short message, or what the last
 * teach did (before and after, and the held-out change).
 *
 * Trade-off: one slot shows one thing at a time, beside the pad and never over
 * it. The three layers share one grid cell, so the slot is as tall as the
 * tallest of them and switching between them moves nothing else on the page;
 * a message that is no longer true (the pen went down again) simply gives the
 * slot back to the hint. The page never scrolls to show the slot: on a phone the
 * first lines of a result are on screen under the buttons, and the rest is a scroll
 * away, where the person's own thumb takes them (a page that moves by itself moves
 * the pad too).
 */

import { aDigit } from './answer.js';
import { percent } from './chart.js';
import { readWriter, yoursCount } from './writer.js';

/** '62%' for 0.62; '' for anything that is not a probability. */
function pct(p) {
  return typeof p === 'number' && Number.isFinite(p) && p >= 0 && p <= 1 ? `${Math.round(p * 100)}%` : '';
}

/** Why everyone's model did not learn a writer's drawing: the server's sentence, or ours. */
export function sharedReason(status, reason) {
  if (typeof reason === 'string' && reason) return reason;
  return status === 'pending'
    ? 'Everyone’s model waits before it learns this drawing.'
    : 'Everyone’s model did not learn this drawing.';
}

/**
 * Where a teach that everyone's model did not take in is counted, in one sentence;
 * `shared` is how a waiting one gets there (hello.teach.shared: approval or agreement).
 */
export function countedWhere(status, shared = 'agreement') {
  if (status !== 'pending') return 'It counts in “Yours” only.';
  return shared === 'approval'
    ? 'It counts in “Yours” now, and in everyone’s figures once the operator approves it.'
    : 'It counts in “Yours” now, and in everyone’s figures once others agree.';
}

/** True for an integer 0..9. */
export function isDigit(d) {
  return Number.isInteger(d) && d >= 0 && d <= 9;
}

/** '98.2% → 98.3%' with the change in points; the honest size of one teach's effect. */
export function heldoutChange(before, after) {
  const a = percent(before);
  const b = percent(after);
  if (b === null) return { text: '—', delta: null };
  if (a === null) return { text: `${b.toFixed(1)}%`, delta: null };
  const delta = Math.round((b - a) * 10) / 10;
  const change = delta === 0 ? 'no change' : `${delta > 0 ? '+' : '−'}${Math.abs(delta).toFixed(1)} points`;
  return { text: `${a.toFixed(1)}% → ${b.toFixed(1)}% (${change})`, delta };
}

export class Feedback {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.slot = $('feedback');
    this.notice = $('notice');
    this.result = $('result');
    this.title = $('result-title');
    this.versions = $('result-versions');
    this.beforeDigit = $('before-digit');
    this.beforePct = $('before-pct');
    this.after = $('result-after');
    this.afterDigit = $('after-digit');
    this.afterPct = $('after-pct');
    this.heldout = $('heldout-change');
    this.heldoutItem = this.heldout.parentElement;
    this.writer = $('result-writer');
    this.writerInfo = $('writer-info');
    this.reason = $('result-reason');
    this.counted = $('result-counted');
    this.announcer = $('teach-announce');
    this.timer = 0;
    this.base = 'hint'; // what the slot returns to when a message expires
    this.pending = null; // the taught result still waiting for its "after"
  }

  /** What the slot shows now: 'hint' | 'notice' | 'result'. */
  get showing() {
    return this.slot.dataset.show;
  }

  show(what) {
    this.slot.dataset.show = what;
  }

  /** A short message; kind is 'ok' | 'info' | 'error'. lingerMs 0: until replaced or the pen goes down. */
  say(text, kind, lingerMs = kind === 'error' ? 0 : 4000) {
    clearTimeout(this.timer);
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
    this.show('notice');
    if (lingerMs > 0) this.timer = setTimeout(() => this.unsay(), lingerMs);
  }

  /** End the message now: back to the teach result if one is current, else the hint. */
  unsay() {
    clearTimeout(this.timer);
    this.notice.dataset.kind = 'none';
    this.show(this.base);
  }

  /** The pen went down on a new drawing: every message and result is old news. */
  reset() {
    this.base = 'hint';
    this.pending = null;
    this.unsay();
    this.result.dataset.outcome = 'none';
    this.reason.textContent = '';
    this.counted.textContent = '';
  }

  showResult() {
    clearTimeout(this.timer);
    this.notice.dataset.kind = 'none';
    this.base = 'result';
    this.show('result');
  }

  setBefore(digit, confidence) {
    this.beforeDigit.textContent = isDigit(digit) ? String(digit) : '—';
    this.beforePct.textContent = isDigit(digit) ? pct(confidence) : '';
  }

  /**
   * A teach was learned. t: {label, predicted, beforeConfidence, versionBefore,
   * version, heldoutBefore, heldoutAfter, writer, shared}. The "after" follows with
   * setAfter. On a writer's connection `shared` says whether everyone's model learned it
   * too; when it did not (pending or refused), the drawing was still learned for the
   * writer, and the reason says why the shared model waits or refused.
   */
  taught(t) {
    const status = t.shared && typeof t.shared.status === 'string' ? t.shared.status : 'accepted';
    const personalOnly = status !== 'accepted';
    this.result.dataset.outcome = personalOnly ? 'personal' : 'taught';
    this.result.dataset.shared = status;
    this.title.textContent = personalOnly ? `Learned for you: ${aDigit(t.label)}` : `Learned: ${aDigit(t.label)}`;
    if (personalOnly) {
      this.versions.textContent = Number.isInteger(t.version) ? `shared model stays v${t.version}` : '';
    } else {
      this.versions.textContent = Number.isInteger(t.versionBefore) && t.versionBefore < t.version
        ? `model v${t.versionBefore} → v${t.version}`
        : `model v${t.version}`;
    }
    this.setBefore(t.predicted, t.beforeConfidence);
    this.after.hidden = false;
    this.heldoutItem.hidden = personalOnly; // unchanged: the reason says why
    this.after.dataset.state = 'waiting';
    this.afterDigit.textContent = '…';
    this.afterPct.textContent = '';
    const change = heldoutChange(t.heldoutBefore, t.heldoutAfter);
    this.heldout.textContent = change.text;
    this.showWriter(t.writer);
    this.reason.textContent = personalOnly ? sharedReason(status, t.shared.reason) : '';
    this.counted.textContent = personalOnly && readWriter(t.writer)
      ? countedWhere(status, document.body.dataset.shared) : '';
    this.pending = { ...t, change, personalOnly };
    this.showResult();
  }

  /** The new version's answer on the taught drawing: {digit, confidence} (and its version). */
  setAfter(after) {
    const t = this.pending;
    if (!t || !after || !isDigit(after.digit)) return false;
    this.pending = null;
    this.afterDigit.textContent = String(after.digit);
    this.afterPct.textContent = pct(after.confidence);
    this.after.dataset.state = after.digit === t.label ? 'right' : 'wrong';
    const before = isDigit(t.predicted) ? `Before, it read ${aDigit(t.predicted)}` : 'Before, it had no answer';
    const now = after.digit === t.label
      ? `now it reads ${aDigit(after.digit)}${pct(after.confidence) ? `, ${pct(after.confidence)} sure` : ''}`
      : `it still reads ${aDigit(after.digit)}`;
    this.announce(`${this.title.textContent}. ${before}; ${now}. ${this.tail(t)}`);
    return true;
  }

  /** The last sentence of a teach's announcement: the held-out change, or why not shared. */
  tail(t) {
    if (!t.personalOnly) return `Held-out digits: ${t.change.text}.`;
    return `${this.reason.textContent} ${this.counted.textContent}`.trim();
  }

  /** No "after" will come (the drawing changed, or the connection dropped). */
  afterUnknown() {
    const t = this.pending;
    if (!t) return;
    this.pending = null;
    this.afterDigit.textContent = '—';
    this.afterPct.textContent = '';
    this.after.dataset.state = 'none';
    this.announce(`${this.title.textContent}. ${this.tail(t)}`);
  }

  /** The writer's drawings are forgotten: say so; a teach result shown before is old news. */
  forgotten() {
    this.base = 'hint';
    this.pending = null;
    this.say('Forgotten: your drawings are gone, and it reads with everyone’s model alone again.', 'ok', 6000);
  }

  /** A teach the server set aside (code "rejected"): why, and what it read. */
  refused({ label, predicted, beforeConfidence, reason, version }) {
    this.pending = null;
    this.result.dataset.outcome = 'refused';
    this.result.dataset.shared = 'refused';
    this.title.textContent = isDigit(label) ? `Not learned as ${aDigit(label)}` : 'Not learned';
    this.versions.textContent = Number.isInteger(version) ? `model stays v${version}` : '';
    this.setBefore(predicted, beforeConfidence);
    this.after.hidden = true;
    this.heldoutItem.hidden = true; // unchanged; the reason gives the figures
    this.showWriter(null);
    this.reason.textContent = reason;
    this.counted.textContent = '';
    this.announce(`Not learned. ${reason}`);
    this.showResult();
  }

  showWriter(writer) {
    const w = readWriter(writer);
    this.writer.hidden = w === null;
    if (w !== null) this.writerInfo.textContent = yoursCount(w);
  }

  announce(sentence) {
    this.announcer.textContent = sentence;
  }
}
