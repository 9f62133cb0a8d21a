/**
 * Inkling's page: wires the drawing pad, the live socket, the answer and the
 * accuracy panel together, and speaks the /ws protocol (docs/protocol.md).
 *
 * Trade-off: the page keeps its own copy of the strokes and treats the server
 * as a function of them. Points stream out once per animation frame while the
 * pen moves (fast answers, bounded traffic), and after a reconnect or a resize
 * the whole drawing is sent again with one `ink` message instead of trying to
 * reconcile partial state.
 *
 * After a teach the drawing stays on the pad (the "review") until the next
 * pen-down, and the slot under the buttons shows what the network read before
 * and what the new version reads now. The server's `taught.after` is that
 * answer when it sends one; otherwise the page asks for it by sending `end`,
 * which changes no ink and is answered with a prediction from the new version.
 *
 * The page connects as a writer (static/writer.js) when it can keep an id, so
 * what it is taught also adapts to this person at once; the inside view
 * (static/inside.js) is asked of the server only while it is open.
 */

import { AnswerView, aDigit } from './answer.js';
import { InkPad } from './canvas.js';
import { STILL_DRAWING_MS, TEACH_TIMEOUT_MS, setNotSureBelow } from './config.js';
import { Feedback, isDigit } from './feedback.js';
import { InsideView } from './inside.js';
import { LiveSocket, socketUrl } from './socket.js';
import { StatsView } from './stats.js';
import { WriterPanel, readWriter, writerId } from './writer.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const sheet = $('sheet');
const statusText = $('status-text');
const digitButtons = [...document.querySelectorAll('.digit')];
const undoButton = $('undo');
const clearButton = $('clear');

// An optional teach token (issue 6) rides along from the page's own URL: /?token=...
const teachToken = new URLSearchParams(window.location.search).get('token');
// This browser's writer id, or null where it cannot be kept (the shared model alone then).
const writer = writerId();

let seq = 0; // the seq of the newest message sent
let staleBelow = 0; // predictions with a smaller seq describe ink that is gone
let settledFrom = 0; // seq of the latest pen-up: answers from here on are final
let pendingPoints = []; // drawn, not yet sent
let flushFrame = 0;
// The teach waiting for its answer: {seq, label, timer, inkSeq, epoch, versionBefore, heldoutBefore}.
let teach = null;
let lateTeach = null; // a teach the page stopped waiting for (the same shape)
let unconfirmed = null; // a teach the connection dropped under: sent again on reconnect
let penUpAt = -Infinity; // when the pen was last lifted (performance.now())
let finishedTimer = 0; // re-shows the answer as finished ink once the pen has rested
let lastMessage = null; // the last prediction message shown
let queued = null; // a digit chosen while the pen was down: taught at pen-up
let review = null; // the pad holds a drawing just taught: {label, version, rereadSeq}
let inkEpoch = 0; // counts changes of this page's ink (points drawn, undo, clear)
let lastShown = null; // {seq, digit, confidence, version} of the last prediction shown
let countdownTimer = 0;
let modelRefresh = null;
let teachClosed = ''; // why this page may not teach (a token is needed), or ''
let forgetSeq = null; // the forget waiting for `forgotten`

// A window onto the page's state for tests and the curious; read-only by convention.
const debug = {
  predictions: 0, // prediction messages received
  shown: 0, // predictions that were fresh enough to be shown
  shownWhileDrawing: 0, // of those, the ones shown while a pen was down
  answeredSeq: 0, // the highest seq a prediction has answered
  last: null, // {seq, digit, confidence, inkPixels, several, probabilities} of the last shown one
  connection: 'connecting',
  hellos: 0,
  teachesSent: 0,
  lastTeachId: null, // the id of the last teach sent (tests resend it)
  taught: 0,
  lastTaught: null, // the last taught message
  errors: [],
  get queued() {
    return queued;
  },
  get review() {
    return review !== null;
  },
  get feedback() {
    return feedback.showing;
  },
  get strokes() {
    return pad.strokes.length;
  },
  get modelVersion() {
    return stats.modelVersion;
  },
  get seq() {
    return seq;
  },
  writer, // the id this page connects with, or null
  helloTeach: null, // the last hello's `teach`: whom this page's teaches teach
  forgotten: 0, // forgotten messages received
  personal: null, // the last shown prediction's `personal`
  get inside() {
    return inside.debug;
  },
};
window.__inkling = debug;

const answer = new AnswerView(document);
const stats = new StatsView(document);
const feedback = new Feedback(document);
const yours = new WriterPanel(document, { onForget: forget });
const inside = new InsideView(document, {
  // Sent now if connected; a reconnect repeats it (connected), so the server always knows.
  onToggle: (on) => socket.isOpen && send({ type: 'inside', on }),
});
const socket = new LiveSocket(socketUrl(window.location, { token: teachToken, writer }), {
  onOpen: connected,
  onMessage: receive,
  onClose: lostConnection,
  onStatus: showStatus,
});
const pad = new InkPad($('ink'), {
  onStart: penDown,
  onPoints: queuePoints,
  onEnd: penUp,
  onChange: inkChanged,
  onRescale: resendInk,
  onLimit: () => feedback.say('That is as much ink as one drawing can hold. Undo or clear to go on.', 'info'),
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
  inkEpoch += 1;
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

/** A new stroke begins: a taught drawing makes way, and old messages go. */
function penDown() {
  if (review) {
    endReview();
    pad.clear(); // the pen is not down yet for the pad: this runs before the stroke opens
    settledFrom = sendInkChange({ type: 'clear' });
  }
  feedback.reset();
}

/** Whether the ink may still grow: the pen is down, or was lifted a moment ago. */
function inkGrowing() {
  return pad.isDrawing || performance.now() - penUpAt < STILL_DRAWING_MS;
}

function penUp() {
  flushPoints();
  settledFrom = send({ type: 'end' });
  penUpAt = performance.now();
  // Nothing more drawn a moment later: the same answer, now read as finished ink.
  clearTimeout(finishedTimer);
  finishedTimer = setTimeout(() => {
    if (lastMessage && !pad.isDrawing && !pad.isEmpty) answer.show(lastMessage, { growing: false });
  }, STILL_DRAWING_MS + 20);
  // Drawn while the server is away: the greyed buttons say why again.
  if (!socket.isOpen && queued === null && feedback.showing === 'hint') feedback.say(PAUSED, 'info', 0);
  if (queued !== null) {
    const label = queued;
    unqueue();
    teachAs(label);
  }
}

/** A new connection starts without the inside view and without ink: tell it both. */
function connected() {
  if (inside.isOpen) send({ type: 'inside', on: true });
  resendInk();
  if (unconfirmed && !pad.isEmpty && unconfirmed.epoch === inkEpoch) {
    // Its ink is back on the server: the same id again, so a teach that was saved
    // before the drop is answered, not learned twice.
    sendTeach({ ...unconfirmed, inkSeq: seq });
    feedback.say(`Asking again whether ${aDigit(teach.label)} was learned…`, 'info', 0);
  } else {
    unconfirmed = null;
  }
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
  undoButton.setAttribute('aria-disabled', String(empty || review !== null));
  clearButton.setAttribute('aria-disabled', String(empty));
  if (empty) {
    answer.showEmpty();
    inside.clear();
  }
}

function undo() {
  // A taught drawing is finished: Clear (or the next stroke) removes it whole.
  if (teach || review || !pad.undo()) return;
  inkEpoch += 1;
  settledFrom = sendInkChange({ type: 'undo' });
}

function clear() {
  if (teach || pad.isEmpty || pad.isDrawing) return;
  if (review) endReview();
  pad.clear();
  inkEpoch += 1;
  settledFrom = sendInkChange({ type: 'clear' });
}

// ---- teaching -----------------------------------------------------------------

// What the teach buttons mean while the server is away (they look unavailable then).
const PAUSED = 'Teaching is paused while the page reconnects. Your drawing is kept: teach it once the status says Live.';
const NOT_TAUGHT_AWAY = 'Not taught: the page is not connected. Your drawing is kept: teach it once the status says Live.';

/** Why a teach cannot start now ({text, kind}), or null if it can. */
function cannotTeach() {
  if (teachClosed) return { text: teachClosed, kind: 'error' };
  if (teach) return { text: `Still learning ${aDigit(teach.label)}; one moment.`, kind: 'info' };
  if (review) {
    return { text: `This drawing is taught already, as ${aDigit(review.label)}. Draw the next one.`, kind: 'info' };
  }
  if (pad.isEmpty) return { text: 'Draw a digit first, then tell me which one it is.', kind: 'info' };
  if (!socket.isOpen) return { text: NOT_TAUGHT_AWAY, kind: 'error' };
  return null;
}

/** Teach the ink as the digit label (from a button, or a key when byKey). */
function teachAs(label, byKey = false) {
  flash(label, 'is-pressed');
  const why = cannotTeach();
  if (why) {
    feedback.say(why.text, why.kind);
    return;
  }
  if (pad.isDrawing) {
    queue(label, byKey);
    return;
  }
  flushPoints();
  sendTeach({
    id: newTeachId(),
    label,
    inkSeq: seq, // the newest ink message: the teach is about the ink it left
    epoch: inkEpoch,
    versionBefore: stats.modelVersion,
    heldoutBefore: stats.heldoutAccuracy,
  });
  feedback.say(`Learning that this is ${aDigit(label)}…`, 'info', 0);
}

/**
 * A random id for a teach (128 bits, hex): sent with it, and sent again with the same
 * teach after a reconnect, so the server answers a teach it already saved instead of
 * learning it twice.
 */
function newTeachId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Send (or send again) a teach and wait for its answer: t is {id, label, inkSeq, ...}. */
function sendTeach(t) {
  const msg = { type: 'teach', label: t.label, id: t.id };
  if (teachToken) msg.token = teachToken;
  debug.teachesSent += 1;
  debug.lastTeachId = t.id;
  teach = { ...t, seq: send(msg), timer: setTimeout(teachTimedOut, TEACH_TIMEOUT_MS) };
  unconfirmed = null;
  pad.lock(true);
  body.dataset.teaching = 'true';
  digitButtons[t.label].classList.add('is-sending');
}

/** A digit chosen with the pen down: say so, and teach it when the pen lifts. */
function queue(label, byKey) {
  unqueue();
  queued = label;
  digitButtons[label].classList.add('is-queued');
  feedback.say(`Will teach this as ${label} when you lift the pen.${byKey ? ' Esc cancels.' : ''}`, 'info', 0);
}

function unqueue() {
  if (queued === null) return;
  digitButtons[queued].classList.remove('is-queued');
  queued = null;
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
  lateTeach = teach;
  teachDone();
  feedback.say('The server is taking a while. You can keep drawing; I’ll say when it has learned.', 'info', 0);
}

/** The teach an answer (taught or error) with this seq belongs to, or null; it is no longer awaited. */
function claimTeach(msgSeq) {
  if (teach && (msgSeq === teach.seq || !Number.isInteger(msgSeq))) {
    const t = teach;
    teachDone();
    return t;
  }
  if (lateTeach && msgSeq === lateTeach.seq) {
    const t = lateTeach;
    lateTeach = null;
    return t;
  }
  return null;
}

/** The confidence the page showed for the taught ink, if it read the digit the server says it read. */
function beforeConfidence(t, predicted) {
  const p = lastShown;
  return p && p.seq >= t.inkSeq && p.digit === predicted ? p.confidence : null;
}

function taught(msg) {
  debug.taught += 1;
  debug.lastTaught = msg;
  stats.update({ version: msg.model_version, accuracy: msg.accuracy, samples: msg.samples });
  if (readWriter(msg.writer)) yours.show(msg.writer);
  const t = claimTeach(msg.seq);
  if (!t) return;
  if (readWriter(msg.writer)) yours.counted(sharedStatus(msg));
  const label = isDigit(msg.label) ? msg.label : t.label;
  flash(label, 'is-learned');
  feedback.taught({
    label,
    predicted: msg.predicted,
    beforeConfidence: beforeConfidence(t, msg.predicted),
    versionBefore: t.versionBefore,
    version: msg.model_version,
    heldoutBefore: t.heldoutBefore,
    heldoutAfter: msg.accuracy ? msg.accuracy.heldout : null,
    writer: msg.writer,
    shared: msg.shared,
  });
  // The drawing stays while the result is read; a late answer finds the pad changed.
  if (t.epoch === inkEpoch && !pad.isDrawing && !pad.isEmpty) startReview(label, msg.model_version);
  const after = msg.after;
  if (after && isDigit(after.digit)) feedback.setAfter(after);
  else if (!review || review.rereadSeq === null) feedback.afterUnknown();
}

/** What everyone's model did with a taught drawing: accepted, pending or refused. */
function sharedStatus(msg) {
  return msg.shared && typeof msg.shared.status === 'string' ? msg.shared.status : 'accepted';
}

/** Keep the taught drawing on the pad and read it again with the new version. */
function startReview(label, version) {
  review = { label, version, rereadSeq: null };
  sheet.dataset.review = 'true';
  undoButton.setAttribute('aria-disabled', 'true');
  // `end` with no open stroke changes no ink and is answered with a prediction: the answer
  // and the bars then show what the new version reads, and it is the "after" when the
  // server did not send one.
  if (socket.isOpen) review.rereadSeq = send({ type: 'end' });
}

function endReview() {
  if (!review) return;
  review = null;
  delete sheet.dataset.review;
  feedback.afterUnknown(); // nothing, if the after is already shown
  undoButton.setAttribute('aria-disabled', String(pad.isEmpty));
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
      sayWhoTeaches(msg.teach);
      syncTeachButtons();
      // Only a server that knows this writer says so; older ones read for everyone alike.
      yours.show(msg.writer);
      body.dataset.writer = String(readWriter(msg.writer) !== null);
      break;
    case 'prediction':
      prediction(msg);
      break;
    case 'taught':
      taught(msg);
      break;
    case 'forgotten':
      forgotten(msg);
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

/**
 * Whom this page's corrections teach (hello's `teach`, docs/protocol.md): everyone's
 * model at once (`direct`: the owner's computer, or a token holder), after the operator
 * approves (`approval`) or after others agree (`agreement`). The hint says the server's
 * sentence; words true only of one way show only there.
 */
function sayWhoTeaches(teachInfo) {
  if (!teachInfo || typeof teachInfo !== 'object') return;
  debug.helloTeach = teachInfo;
  if (['direct', 'approval', 'agreement'].includes(teachInfo.shared)) {
    body.dataset.shared = teachInfo.shared;
  }
  if (typeof teachInfo.says === 'string' && teachInfo.says) $('hint-writer').textContent = teachInfo.says;
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
    if (pad.isEmpty) {
      answer.showEmpty();
      inside.clear();
    }
    return;
  }
  debug.shown += 1;
  if (pad.isDrawing) debug.shownWhileDrawing += 1;
  body.dataset.shown = String(debug.shown);
  const inkPixels = answer.show(msg, { growing: inkGrowing() });
  lastMessage = msg;
  inside.show(msg);
  debug.personal = typeof msg.personal === 'boolean' ? msg.personal : null;
  debug.last = { seq: msg.seq, digit: msg.digit, confidence: msg.confidence, inkPixels,
    several: msg.several, probabilities: msg.probabilities };
  lastShown = { seq: msg.seq, digit: msg.digit, confidence: msg.confidence, version: msg.model_version };
  if (review && review.rereadSeq !== null && Number.isInteger(msg.seq) && msg.seq >= review.rereadSeq) {
    review.rereadSeq = null;
    const fresh = !Number.isInteger(msg.model_version) || msg.model_version >= review.version;
    if (fresh) feedback.setAfter({ digit: msg.digit, confidence: msg.confidence });
    else feedback.afterUnknown();
    return; // the teach result speaks for this reading
  }
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
  if (forgetSeq !== null && msg.seq === forgetSeq) {
    forgetSeq = null;
    yours.failed();
  }
  const t = claimTeach(msg.seq);
  if (review && review.rereadSeq !== null && msg.seq === review.rereadSeq) {
    review.rereadSeq = null;
    feedback.afterUnknown();
  }
  const text = (typeof msg.message === 'string' && msg.message ? msg.message : FALLBACK[msg.code])
    || 'Something went wrong with the last message.';
  if (t && msg.code === 'unavailable' && msg.saved === 'unknown' && socket.isOpen) {
    // Still being saved when the server stopped waiting: ask again with the same id.
    setTimeout(() => {
      if (!teach && socket.isOpen && t.epoch === inkEpoch) sendTeach(t);
    }, 1000);
    feedback.say(`Still saving ${aDigit(t.label)}; asking again in a moment…`, 'info', 0);
    return;
  }
  if (t && msg.code === 'rejected') {
    // Set aside by the poisoning guard: the reason is long, so it gets the result panel.
    feedback.refused({
      label: isDigit(msg.label) ? msg.label : t.label,
      predicted: msg.predicted,
      beforeConfidence: beforeConfidence(t, msg.predicted),
      reason: text,
      version: Number.isInteger(msg.model_version) ? msg.model_version : t.versionBefore,
    });
  } else {
    feedback.say(t ? `Not learned. ${text}` : text, 'error');
  }
}

// ---- forgetting ------------------------------------------------------------------

/** The person confirmed "Forget my drawings". */
function forget() {
  if (!socket.isOpen) {
    yours.failed();
    feedback.say('Not connected right now, so nothing was forgotten. Try again in a moment.', 'error');
    return;
  }
  forgetSeq = send({ type: 'forget' });
}

function forgotten(msg) {
  debug.forgotten += 1;
  if (msg.seq !== forgetSeq && Number.isInteger(msg.seq)) return; // not this page's
  forgetSeq = null;
  yours.forgotten();
  feedback.forgotten();
  // Read the drawing on the pad again, now without the writer's adaptation: `end`
  // changes no ink and is answered with a prediction (a pen still down is answered anyway).
  if (!pad.isEmpty && !pad.isDrawing) settledFrom = send({ type: 'end' });
}

// ---- connection -----------------------------------------------------------------

function lostConnection() {
  pendingPoints = [];
  if (forgetSeq !== null) {
    // Unknown whether it happened; the next hello's figures tell.
    forgetSeq = null;
    yours.failed();
  }
  if (review && review.rereadSeq !== null) {
    review.rereadSeq = null;
    feedback.afterUnknown();
  }
  if (teach) {
    const t = teach;
    teachDone();
    unconfirmed = t;
    feedback.say('The connection dropped before the teach was confirmed; the page will ask again when it reconnects.', 'info', 0);
  }
}

/**
 * The teach buttons look unavailable (and say why when pressed) while this page cannot
 * teach: the server is away, or teaching needs a token this page lacks.
 */
function syncTeachButtons() {
  const away = debug.connection !== 'open';
  for (const b of digitButtons) b.setAttribute('aria-disabled', String(away || Boolean(teachClosed)));
}

function showStatus(state, detail) {
  const wasOpen = debug.connection === 'open';
  debug.connection = state;
  body.dataset.connection = state;
  syncTeachButtons();
  // Leaving Live: say what the greyed buttons mean, unless the slot has news of its own.
  if (wasOpen && state !== 'open' && feedback.showing === 'hint') feedback.say(PAUSED, 'info', 0);
  if (state === 'open' && feedback.showing === 'notice' && feedback.notice.textContent === PAUSED) {
    feedback.unsay();
  }
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
    if (queued !== null && pad.isDrawing) {
      unqueue();
      feedback.say('Cancelled: this drawing will not be taught.', 'info');
    } else {
      clear();
    }
  } else if (!command && !e.repeat && /^[0-9]$/.test(e.key)) {
    e.preventDefault();
    teachAs(Number(e.key), true);
  }
});

if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) $('undo-key').textContent = '⌘ Z';

inkChanged();
socket.connect();
