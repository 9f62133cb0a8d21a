/**
 * The writer: this browser's own name on the server, and what the page shows of the
 * writer's drawings ("Yours: 12 drawings taught", where this page's teaches went, and
 * how often it read them right once there are enough to say) with the way to forget them.
 *
 * Trade-off: the writer is a random 128-bit id kept in localStorage, not an account.
 * Nothing to sign up for and nothing personal is sent, but it lives and dies with this
 * browser's storage: clearing it, or another browser, is a new writer. Where storage
 * is unavailable the page connects without an id and reads with the shared model alone,
 * rather than adapting to a name it would lose at the next reload.
 */

import { percent } from './chart.js';
import { WRITER_SHARE_FROM } from './config.js';

export const WRITER_KEY = 'inkling-writer';

// The server's window for a writer's share read right (docs/protocol.md, Writers).
const TAUGHT_WINDOW = 100;

// What a teach did with everyone's model, as the page's tally says it.
const SHARED_WORDS = {
  accepted: (n) => `${n} learned by everyone’s model`,
  pending: (n) => `${n} waiting for others to agree`,
  refused: (n) => `${n} set aside by everyone’s model`,
};

// What the server accepts as a writer id (docs/protocol.md, Writers); the page makes 32 hex.
const VALID_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** 32 hex characters from 16 random bytes. */
function randomHex(bytes) {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return [...raw].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** window.localStorage, or null where reading it throws (blocked storage, some private modes). */
function localStore() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** This browser's writer id, made once and kept in storage; null when it cannot be kept. */
export function writerId(storage = localStore()) {
  if (!storage) return null;
  try {
    const kept = storage.getItem(WRITER_KEY);
    if (kept && VALID_ID.test(kept)) return kept;
    const id = randomHex(16);
    storage.setItem(WRITER_KEY, id);
    // Only an id that outlives this page is worth adapting to: read it back.
    return storage.getItem(WRITER_KEY) === id ? id : null;
  } catch {
    return null; // full, or refused
  }
}

/** '1 drawing taught', '12 drawings taught': every drawing the writer taught counts. */
export function yoursCount(writer) {
  const n = writer.samples;
  return `${n.toLocaleString('en')} ${n === 1 ? 'drawing' : 'drawings'} taught`;
}

/**
 * How often the network read the writer's drawings right before they taught them, in
 * words, or '' while that says little: before WRITER_SHARE_FROM drawings (at one drawing
 * it can only be 0% or 100%), or when the server has no figure.
 */
export function yoursShare(writer) {
  const acc = percent(writer.accuracy);
  if (acc === null || writer.samples < WRITER_SHARE_FROM) return '';
  const of = writer.samples > TAUGHT_WINDOW ? `of your last ${TAUGHT_WINDOW}` : 'of them';
  return `Before you taught them, it read ${Math.round(acc)}% ${of} right.`;
}

/** A hello's or taught's `writer` field when it is well formed, else null. */
export function readWriter(writer) {
  return writer && Number.isInteger(writer.samples) && writer.samples >= 0 ? writer : null;
}

/**
 * The "Yours" line beside the shared figures, and "Forget my drawings" with its
 * confirmation in the page (a window.confirm would block the socket's messages and
 * cannot be styled or tested like the rest of the page).
 */
export class WriterPanel {
  /** handlers: { onForget() }: the person confirmed; the page sends `forget`. */
  constructor(doc, handlers) {
    const $ = (id) => doc.getElementById(id);
    this.root = $('yours');
    this.figures = $('yours-figures');
    this.share = $('yours-share');
    this.visit = $('yours-visit');
    this.tally = { accepted: 0, pending: 0, refused: 0 }; // this page's teaches, by shared status
    this.forgetButton = $('forget');
    this.confirm = $('forget-confirm');
    this.question = $('forget-question');
    this.yes = $('forget-yes');
    this.no = $('forget-no');
    this.handlers = handlers;
    this.samples = 0;
    this.forgetting = false;

    this.forgetButton.addEventListener('click', () => this.ask());
    this.yes.addEventListener('click', () => this.confirmed());
    this.no.addEventListener('click', () => this.cancel());
    this.confirm.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      e.preventDefault(); // the page's Esc clears the pad; here it only closes the question
      this.cancel();
    });
  }

  /** Show a writer's figures ({samples, accuracy}); null hides the line (no writer). */
  show(writer) {
    const w = readWriter(writer);
    this.root.hidden = w === null;
    if (w === null) return;
    const grew = w.samples > this.samples;
    this.samples = w.samples;
    this.figures.textContent = yoursCount(w);
    this.share.textContent = yoursShare(w);
    if (grew) {
      // "Your teach counted": the same highlight the shared figures get when they change.
      this.figures.classList.remove('is-fresh');
      void this.figures.offsetWidth;
      this.figures.classList.add('is-fresh');
    }
    this.syncButton();
    if (!this.confirm.hidden) this.question.textContent = this.questionText();
  }

  /**
   * A teach of this page was stored; `status` is what everyone's model did with it
   * (accepted, pending or refused). The tally says where this visit's teaches went.
   */
  counted(status) {
    if (!(status in this.tally)) return;
    this.tally[status] += 1;
    this.visit.textContent = this.visitText();
    this.visit.hidden = false;
  }

  visitText() {
    const parts = Object.entries(this.tally).filter(([, n]) => n > 0)
      .map(([status, n]) => SHARED_WORDS[status](n));
    return `Taught from this page since you opened it: ${parts.join(', ')}.`;
  }

  /** The server forgot: nothing of the writer's is left. */
  forgotten() {
    this.forgetting = false;
    this.tally = { accepted: 0, pending: 0, refused: 0 };
    this.visit.hidden = true;
    this.show({ samples: 0, accuracy: null });
    this.close();
  }

  /** The forget failed (the page says why in its message area); it may be tried again. */
  failed() {
    this.forgetting = false;
    this.syncButton();
    this.yes.disabled = false;
  }

  syncButton() {
    this.forgetButton.disabled = this.forgetting || this.samples === 0;
    this.forgetButton.textContent = this.forgetting ? 'Forgetting…' : 'Forget my drawings';
  }

  questionText() {
    const n = this.samples;
    const what = n === 1 ? 'the drawing' : `the ${n.toLocaleString('en')} drawings`;
    return `Forget ${what} you taught? The page will read your handwriting with the shared `
      + `model alone again. What everyone’s model already learned from ${n === 1 ? 'it' : 'them'} stays.`;
  }

  ask() {
    this.question.textContent = this.questionText();
    this.yes.disabled = false;
    this.confirm.hidden = false;
    this.forgetButton.setAttribute('aria-expanded', 'true');
    this.no.focus(); // the safe answer under the finger, as with any destructive question
  }

  confirmed() {
    this.forgetting = true;
    this.yes.disabled = true;
    this.syncButton();
    this.handlers.onForget();
  }

  cancel() {
    this.close();
  }

  close() {
    const hadFocus = this.confirm.contains(document.activeElement);
    this.confirm.hidden = true;
    this.forgetButton.setAttribute('aria-expanded', 'false');
    // Keep keyboard users where they were: on the button, or on the figures it emptied.
    if (hadFocus) (this.forgetButton.disabled ? this.figures : this.forgetButton).focus();
  }
}
