/**
 * Inkling's page: wires the drawing pad, the live socket, the answer and the
 * accuracy panel together, and speaks the /ws protocol (docs/protocol.md).
 *
 * Trade-off: the page keeps its own copy of the strokes and treats the server
 * as a function of them. Points stream out once per animation frame while the
 * pen moves (fast answers, bounded traffic), and after a reconnect or a resize
 * the whole drawing is sent again with one `ink` message instead of trying to
 * reconcile partial state.
 */

import { AnswerView, aDigit } from './answer.js';
import { InkPad } from './canvas.js';
import { TEACH_TIMEOUT_MS, setNotSureBelow } from './config.js';
import { LiveSocket, socketUrl } from './socket.js';
import { StatsView } from './stats.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const sheet = $('sheet');
const notice = $('notice');
const statusText = $('status-text');
const digitButtons = [...document.querySelectorAll('.digit')];
const undoButton = $('undo');
const clearButton = $('clear');

// An optional teach token (issue 6) rides along from the page's own URL: /?token=...
const teachToken = new URLSearchParams(window.location.search).get('token');

let seq = 0; // the seq of the newest message sent
let staleBelow = 0; // predictions with a smaller seq describe ink that is gone
let settledFrom = 0; // seq of the latest pen-up: answers from here on are final
let pendingPoints = []; // drawn, not yet sent
let flushFrame = 0;
let teach = null; // the teach waiting for its answer: {seq, label, timer}
let lateTeachSeq = null; // a teach the page stopped waiting for
let noticeTimer = 0;
let countdownTimer = 0;
let modelRefresh = null;
let teachClosed = ''; // why this page may not teach (a token is needed), or ''

// A window onto the page's state for tests and the curious; read-only by convention.
const debug = {
  predictions: 0, // prediction messages received
  shown: 0, // predictions that were fresh enough to be shown
  shownWhileDrawing: 0, // of those, the ones shown while a pen was down
  answeredSeq: 0, // the highest seq a prediction has answered
  last: null, // {seq, digit, confidence, inkPixels} of the last shown prediction
  connection: 'connecting',
  hellos: 0,
  taught: 0,
  errors: [],
  get strokes() {
    return pad.strokes.length;
  },
  get modelVersion() {
    return stats.modelVersion;
  },
  get seq() {
    return seq;
  },
};
window.__inkling = debug;

const answer = new AnswerView(document);
const stats = new StatsView(document);
const socket = new LiveSocket(socketUrl(window.location, teachToken), {
  onOpen: resendInk,
  onMessage: receive,
  onClose: lostConnection,
  onStatus: showStatus,
});
const pad = new InkPad($('ink'), {
  onPoints: queuePoints,
  onEnd: penUp,
  onChange: inkChanged,
  onRescale: resendInk,
  onLimit: () => say('That is as much ink as one drawing can hold. Undo or clear to go on.', 'info'),
});

// ---- sending ------------------------------------------------------------------

/** Send a message with the next seq; returns the seq (even if the socket is down). */
function send(msg) {
  seq += 1;
  socket.send({ ...msg, seq });
  return seq;
}

/** Send a message that replaces the ink: older predictions become stale. */
function sendInkChange(msg) {
  staleBelow = send(msg);
  return staleBelow;
}

function queuePoints(points) {
  pendingPoints.push(...points);
  if (!flushFrame) flushFrame = requestAnimationFrame(flushPoints);
}

/** Send the points drawn since the last frame as one stroke message. */
function flushPoints() {
  cancelAnimationFrame(flushFrame);
  flushFrame = 0;
  if (!pendingPoints.length) return;
  const points = pendingPoints;
  pendingPoints = [];
  send({ type: 'stroke', points });
}

function penUp() {
  flushPoints();
  settledFrom = send({ type: 'end' });
}

/** Make the server's ink equal the page's: after a reconnect or a resize. */
function resendInk() {
  pendingPoints = [];
  if (!socket.isOpen || pad.isEmpty) return; // a new connection starts with no ink
  const strokes = pad.snapshot();
  const open = pad.isDrawing ? strokes.pop() : null;
  if (strokes.length) sendInkChange({ type: 'ink', strokes });
  else sendInkChange({ type: 'clear' });
  // The stroke under the pen stays open on the server, so the next points extend it.
  if (open) send({ type: 'stroke', points: open });
  else if (!pad.isEmpty) settledFrom = seq;
}

// ---- the ink --------------------------------------------------------------------

function inkChanged() {
  const empty = pad.isEmpty;
  sheet.dataset.empty = String(empty);
  body.dataset.empty = String(empty);
  undoButton.setAttribute('aria-disabled', String(empty));
  clearButton.setAttribute('aria-disabled', String(empty));
  if (empty) answer.showEmpty();
}

function undo() {
  if (teach || !pad.undo()) return;
  settledFrom = sendInkChange({ type: 'undo' });
}

function clear() {
  if (teach || !pad.clear()) return;
  settledFrom = sendInkChange({ type: 'clear' });
}

// ---- teaching -----------------------------------------------------------------

function teachAs(label) {
  if (teach || pad.isDrawing) return;
  flash(label, 'is-pressed');
  if (teachClosed) {
    say(teachClosed, 'error');
    return;
  }
  if (pad.isEmpty) {
    say('Draw a digit first, then tell me which one it is.', 'info');
    return;
  }
  if (!socket.isOpen) {
    say('Not connected right now. Your drawing is kept; try again in a moment.', 'error');
    return;
  }
  flushPoints();
  const msg = { type: 'teach', label };
  if (teachToken) msg.token = teachToken;
  const s = send(msg);
  teach = { seq: s, label, timer: setTimeout(teachTimedOut, TEACH_TIMEOUT_MS) };
  pad.lock(true);
  body.dataset.teaching = 'true';
  digitButtons[label].classList.add('is-sending');
  say(`Learning that this is ${aDigit(label)}…`, 'info', 0);
}

function teachDone() {
  if (!teach) return;
  clearTimeout(teach.timer);
  digitButtons[teach.label].classList.remove('is-sending');
  teach = null;
  pad.lock(false);
  delete body.dataset.teaching;
}

function teachTimedOut() {
  lateTeachSeq = teach.seq;
  teachDone();
  say('The server is taking a while. You can keep drawing; I’ll say when it has learned.', 'info', 0);
}

function taught(msg) {
  debug.taught += 1;
  stats.update({ version: msg.model_version, accuracy: msg.accuracy, samples: msg.samples });
  const late = !teach && msg.seq === lateTeachSeq;
  if (!late && (!teach || (Number.isInteger(msg.seq) && msg.seq !== teach.seq))) return;
  const label = Number.isInteger(msg.label) ? msg.label : late ? null : teach.label;
  teachDone();
  if (label === null) return;
  if (msg.predicted === label) say(`I had that right — it’s ${aDigit(label)}.`, 'ok');
  else if (Number.isInteger(msg.predicted)) say(`Got it — I read that as ${aDigit(msg.predicted)} before.`, 'ok');
  else say(`Got it — that’s ${aDigit(label)}.`, 'ok');
  flash(label, 'is-learned');
  // A late answer leaves the pad alone: the person may be drawing something new.
  if (late) lateTeachSeq = null;
  else clear();
}

// ---- receiving ----------------------------------------------------------------

function receive(msg) {
  switch (msg && msg.type) {
    case 'hello':
      debug.hellos += 1;
      if (msg.model) stats.update(modelInfo(msg.model));
      if (msg.model && Number.isInteger(msg.model.parameters)) {
        $('parameters').textContent = `${msg.model.parameters.toLocaleString('en')} parameters`;
      }
      pad.setLimits(msg.limits);
      setNotSureBelow(msg.not_sure_below);
      teachClosed = teachRefusal(msg.teach);
      body.dataset.teachClosed = String(Boolean(teachClosed));
      break;
    case 'prediction':
      prediction(msg);
      break;
    case 'taught':
      taught(msg);
      break;
    case 'model':
      stats.update({ version: msg.model_version, accuracy: msg.accuracy, samples: msg.samples });
      // The push may not carry the taught count; the API has it.
      if (!Number.isInteger(msg.samples)) refreshModel();
      break;
    case 'error':
      problem(msg);
      break;
    default:
      break; // newer servers may say more; unknown messages are not an error
  }
}

/** Why teaching is refused on this connection (hello's `teach` field), or ''. */
function teachRefusal(teachInfo) {
  if (!teachInfo || !teachInfo.token_required || teachInfo.authorized) return '';
  return teachToken
    ? 'The teach token in this page’s address was not accepted, so it cannot teach. Reading still works.'
    : 'Teaching needs a token on this server (open the page with ?token=…). Reading still works.';
}

/** The {version, accuracy, samples} of a GET /api/model body or a hello's model. */
function modelInfo(model) {
  return { version: model.version, accuracy: model.accuracy, samples: model.samples };
}

function prediction(msg) {
  debug.predictions += 1;
  body.dataset.predictions = String(debug.predictions);
  if (Number.isInteger(msg.seq)) debug.answeredSeq = Math.max(debug.answeredSeq, msg.seq);
  if (Number.isInteger(msg.seq) && msg.seq < staleBelow) return;
  if (Number.isInteger(msg.model_version) && stats.modelVersion !== null && msg.model_version > stats.modelVersion) {
    refreshModel();
  }
  if (pad.isEmpty || msg.digit === null || msg.digit === undefined) {
    // No ink here, or the server has not seen this page's newest ink yet.
    if (pad.isEmpty) answer.showEmpty();
    return;
  }
  debug.shown += 1;
  if (pad.isDrawing) debug.shownWhileDrawing += 1;
  body.dataset.shown = String(debug.shown);
  const inkPixels = answer.show(msg);
  debug.last = { seq: msg.seq, digit: msg.digit, confidence: msg.confidence, inkPixels };
  if (!pad.isDrawing && Number.isInteger(msg.seq) && msg.seq >= settledFrom) answer.announce(msg);
}

/** A prediction ran on a model newer than the panel shows: ask for its figures. */
function refreshModel() {
  if (modelRefresh) return;
  modelRefresh = fetch('/api/model', { cache: 'no-store', headers: { Accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : null))
    .then((model) => model && stats.update(modelInfo(model)))
    .catch(() => {})
    .finally(() => {
      modelRefresh = null;
    });
}

const FALLBACK = {
  rate_limited: 'Slow down a little: too many teaches in a row. Try again in a moment.',
  no_ink: 'Draw a digit first, then tell me which one it is.',
  too_large: 'That drawing is too big to send. Clear it and try a simpler one.',
};

function problem(msg) {
  debug.errors.push(msg.code);
  if (teach && (msg.seq === teach.seq || !Number.isInteger(msg.seq))) teachDone();
  const text = typeof msg.message === 'string' && msg.message ? msg.message : FALLBACK[msg.code];
  say(text || 'Something went wrong with the last message.', 'error');
}

// ---- connection -----------------------------------------------------------------

function lostConnection() {
  pendingPoints = [];
  if (teach) {
    teachDone();
    say('The connection dropped before the teach was confirmed. If the count did not go up, teach it again.', 'error');
  }
}

function showStatus(state, detail) {
  debug.connection = state;
  body.dataset.connection = state;
  clearInterval(countdownTimer);
  if (state === 'open') statusText.textContent = 'Live';
  else if (state === 'connecting') statusText.textContent = debug.hellos ? 'Reconnecting…' : 'Connecting…';
  else if (state === 'offline') statusText.textContent = 'Offline';
  else if (state === 'waiting') {
    const tick = () => {
      const s = Math.max(1, Math.ceil((detail.at - Date.now()) / 1000));
      statusText.textContent = `Reconnecting in ${s} s`;
    };
    tick();
    countdownTimer = setInterval(tick, 500);
  }
}

// ---- small UI helpers -------------------------------------------------------------

/** Show a short message under the teach buttons; kind is 'ok' | 'info' | 'error'. */
function say(text, kind, lingerMs = kind === 'error' ? 6000 : 3500) {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  notice.dataset.kind = kind;
  if (lingerMs > 0) {
    noticeTimer = setTimeout(() => {
      notice.dataset.kind = 'none';
    }, lingerMs);
  }
}

/** Briefly mark digit button d with a class, restarting its animation. */
function flash(d, cls) {
  const b = digitButtons[d];
  b.classList.remove(cls);
  void b.offsetWidth;
  b.classList.add(cls);
  b.addEventListener('animationend', () => b.classList.remove(cls), { once: true });
}

// ---- input wiring -----------------------------------------------------------------

for (const b of digitButtons) {
  b.addEventListener('click', () => teachAs(Number(b.dataset.label)));
}
undoButton.addEventListener('click', undo);
clearButton.addEventListener('click', clear);

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const command = e.ctrlKey || e.metaKey;
  if (command && !e.shiftKey && e.key.toLowerCase() === 'z') {
    e.preventDefault();
    undo();
  } else if (e.key === 'Escape') {
    clear();
  } else if (!command && !e.repeat && /^[0-9]$/.test(e.key)) {
    e.preventDefault();
    teachAs(Number(e.key));
  }
});

if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) $('undo-key').textContent = '⌘ Z';

inkChanged();
socket.connect();
