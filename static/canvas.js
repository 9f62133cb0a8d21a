/**
 * The drawing pad: pointer input becomes strokes, strokes become smooth marker ink.
 *
 * Trade-off: every frame with new ink repaints all strokes from their points
 * instead of painting only the newest segment. A digit is a few hundred points,
 * so a full repaint costs well under a millisecond, and one code path then
 * serves drawing, undo, resizing and a change of screen density alike.
 *
 * Coordinates are canvas CSS pixels, x to the right and y down: what the
 * protocol sends. The backing store is CSS size times devicePixelRatio, so ink
 * stays sharp on high-DPI screens.
 */

// Marker width as a share of the pad's side: thick enough to read as a marker.
const WIDTH_SHARE = 0.047;
// Points closer than this (CSS px) to the previous one add nothing but bytes.
const MIN_STEP = 1;

/** Round a coordinate to 0.1 px: plenty for a digit, and short on the wire. */
const round1 = (v) => Math.round(v * 10) / 10;

export class InkPad {
  /**
   * canvas: the <canvas> element to draw on.
   * handlers: { onStart(), onPoints(points), onEnd(), onChange(), onRescale(strokes), onLimit() }:
   * onStart runs at pen-down before the new stroke exists, so it may still clear the pad.
   */
  constructor(canvas, handlers) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.handlers = handlers;
    this.strokes = []; // list of strokes; a stroke is a list of [x, y]
    this.points = 0; // points in all strokes
    // The server's limits (hello.limits): ink beyond them is not drawn, so the page
    // never shows ink the server refused.
    this.limits = { stroke: Infinity, drawing: Infinity, strokes: Infinity };
    this.pointerId = null; // the pointer drawing now, if any
    this.full = false; // the open stroke hit a limit (said once per stroke)
    this.locked = false;
    this.size = 0; // CSS px per side
    this.dpr = 1;
    this.rect = null;
    this.frame = 0;
    this.ink = getComputedStyle(canvas).getPropertyValue('--ink').trim() || '#1b1f2a';

    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    canvas.addEventListener('lostpointercapture', (e) => this.up(e));
    // A long press must not open a menu, and a touch must never scroll or zoom.
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('touchstart', (e) => e.preventDefault(), { passive: false });

    new ResizeObserver(() => this.resize()).observe(canvas);
    this.watchDensity();
    this.resize();
  }

  /** True when there is no ink at all. */
  get isEmpty() {
    return this.strokes.length === 0;
  }

  /** True while a pointer is down on the pad. */
  get isDrawing() {
    return this.pointerId !== null;
  }

  /** Adopt the server's limits: {max_points_per_stroke, max_points_per_drawing, max_strokes}. */
  setLimits(limits) {
    const read = (v) => (Number.isInteger(v) && v > 0 ? v : Infinity);
    this.limits = {
      stroke: read(limits && limits.max_points_per_stroke),
      drawing: read(limits && limits.max_points_per_drawing),
      strokes: read(limits && limits.max_strokes),
    };
  }

  /** The strokes as plain arrays, ready for JSON. */
  snapshot() {
    return this.strokes.map((s) => s.map(([x, y]) => [x, y]));
  }

  /** Map a pointer event to a point in canvas CSS px, clamped to the pad. */
  point(e) {
    const r = this.rect;
    const x = ((e.clientX - r.left) * this.size) / r.width;
    const y = ((e.clientY - r.top) * this.size) / r.height;
    return [round1(Math.min(Math.max(x, 0), this.size)), round1(Math.min(Math.max(y, 0), this.size))];
  }

  down(e) {
    if (this.locked || this.pointerId !== null) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    e.preventDefault();
    if (this.handlers.onStart) this.handlers.onStart();
    if (this.strokes.length >= this.limits.strokes || this.points >= this.limits.drawing) {
      this.handlers.onLimit();
      return;
    }
    this.pointerId = e.pointerId;
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // The pointer may already be gone; the stroke still works without capture.
    }
    // Measured at every pen-down, so a scrolled or resized page maps correctly.
    this.rect = this.canvas.getBoundingClientRect();
    const p = this.point(e);
    this.strokes.push([p]);
    this.points += 1;
    this.handlers.onPoints([p]);
    this.changed();
  }

  /** How many more points the open stroke may take. */
  room(stroke) {
    return Math.min(this.limits.stroke - stroke.length, this.limits.drawing - this.points);
  }

  move(e) {
    if (e.pointerId !== this.pointerId) return;
    e.preventDefault();
    this.rect = this.canvas.getBoundingClientRect();
    // Coalesced events carry the points the browser merged between frames.
    const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    const stroke = this.strokes[this.strokes.length - 1];
    const fresh = [];
    for (const ev of events.length ? events : [e]) {
      const p = this.point(ev);
      const last = fresh.length ? fresh[fresh.length - 1] : stroke[stroke.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) continue;
      fresh.push(p);
    }
    if (!fresh.length) return;
    const room = this.room(stroke);
    if (fresh.length > room) {
      if (!this.full) this.handlers.onLimit();
      this.full = true;
      fresh.length = Math.max(0, room);
      if (!fresh.length) return;
    }
    stroke.push(...fresh);
    this.points += fresh.length;
    this.handlers.onPoints(fresh);
    this.changed();
  }

  up(e) {
    if (e.pointerId !== this.pointerId) return;
    if (e.type === 'pointerup') {
      this.rect = this.canvas.getBoundingClientRect();
      const p = this.point(e);
      const stroke = this.strokes[this.strokes.length - 1];
      const last = stroke[stroke.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= MIN_STEP && this.room(stroke) > 0) {
        stroke.push(p);
        this.points += 1;
        this.handlers.onPoints([p]);
      }
    }
    this.pointerId = null;
    this.full = false;
    this.handlers.onEnd();
    this.changed();
  }

  /** Remove the last stroke; false if there was none or a stroke is being drawn. */
  undo() {
    if (this.isDrawing || this.isEmpty) return false;
    this.points -= this.strokes.pop().length;
    this.changed();
    return true;
  }

  /** Remove all ink; false if there was none or a stroke is being drawn. */
  clear() {
    if (this.isDrawing || this.isEmpty) return false;
    this.strokes = [];
    this.points = 0;
    this.changed();
    return true;
  }

  /** Ignore new strokes (true) or accept them again (false). */
  lock(locked) {
    this.locked = locked;
    this.canvas.classList.toggle('is-locked', locked);
  }

  changed() {
    this.handlers.onChange();
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  /** Follow the element's size and the screen density; keep existing ink in place. */
  resize() {
    const size = this.canvas.clientWidth;
    const dpr = window.devicePixelRatio || 1;
    if (size <= 0) return;
    if (this.size > 0 && size !== this.size && this.strokes.length) {
      const k = size / this.size;
      this.strokes = this.strokes.map((s) => s.map(([x, y]) => [round1(x * k), round1(y * k)]));
      this.size = size;
      this.handlers.onRescale(this.snapshot());
    }
    this.size = size;
    this.dpr = dpr;
    const px = Math.round(size * dpr);
    if (this.canvas.width !== px || this.canvas.height !== px) {
      this.canvas.width = px;
      this.canvas.height = px;
    }
    this.paint();
  }

  /** Repaint when the page moves to a screen of another density (or is zoomed). */
  watchDensity() {
    const query = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    query.addEventListener('change', () => {
      this.resize();
      this.watchDensity();
    }, { once: true });
  }

  /** Paint every stroke, each smoothed by quadratic curves through the midpoints. */
  paint() {
    this.frame = 0;
    const { ctx, dpr } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const width = Math.max(6, this.size * WIDTH_SHARE);
    ctx.lineWidth = width;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = this.ink;
    ctx.fillStyle = this.ink;
    for (const s of this.strokes) {
      if (s.length === 1) {
        ctx.beginPath();
        ctx.arc(s[0][0], s[0][1], width / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      // Each sample is a control point; the curve passes through the midpoints
      // between samples, which rounds off the corners of a jittery polyline.
      for (let i = 1; i < s.length - 1; i++) {
        const mx = (s[i][0] + s[i + 1][0]) / 2;
        const my = (s[i][1] + s[i + 1][1]) / 2;
        ctx.quadraticCurveTo(s[i][0], s[i][1], mx, my);
      }
      const last = s[s.length - 1];
      ctx.lineTo(last[0], last[1]);
      ctx.stroke();
    }
  }
}
