/**
 * The writer: this browser's own name on the server, and what the page shows of the
 * writer's drawings ("Yours: 12 drawings, 96% right") with the way to forget them.
 *
 * Trade-off: the writer is a random 128-bit id kept in localStorage, not an account.
 * Nothing to sign up for and nothing personal is sent, but it lives and dies with this
 * browser's storage: clearing it, or another browser, is a new writer. Where storage
 * is unavailable the page connects without an id and reads with the shared model alone,
 * rather than adapting to a name it would lose at the next reload.
 */

import { percent } from './chart.js';

export const WRITER_KEY = 'inkling-writer';

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

/** '12 drawings, 96% right'; '1 drawing'; the percentage only once there is one. */
export function yoursText(writer) {
  const n = writer.samples;
  const count = `${n.toLocaleString('en')} ${n === 1 ? 'drawing' : 'drawings'}`;
  const acc = percent(writer.accuracy);
  return acc === null ? count : `${count}, ${Math.round(acc)}% right`;
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
    this.samples = w.samples;
    this.figures.textContent = yoursText(w);
    this.syncButton();
    if (!this.confirm.hidden) this.question.textContent = this.questionText();
  }

  /** The server forgot: nothing of the writer's is left. */
  forgotten() {
    this.forgetting = false;
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
