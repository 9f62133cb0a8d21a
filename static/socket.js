/**
 * The live connection to /ws: JSON in and out, and it comes back by itself.
 *
 * Trade-off: messages sent while the connection is down are dropped, not
 * queued. The page keeps its own strokes and resends them whole with an `ink`
 * message after every reconnect, which is both simpler and more correct than
 * replaying a backlog of half-strokes to a server that may have restarted.
 */

import { RECONNECT_BASE_MS, RECONNECT_MAX_MS } from './config.js';

/**
 * The /ws address of the server that served this page (ws: or wss: to match), with a
 * teach token and a writer id when given.
 */
export function socketUrl(loc = window.location, { token = null, writer = null } = {}) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams();
  if (writer) query.set('writer', writer);
  if (token) query.set('token', token);
  const q = query.toString();
  return `${scheme}//${loc.host}/ws${q ? `?${q}` : ''}`;
}

/** Delay before reconnect attempt n (1, 2, ...): exponential, capped, half jittered. */
export function backoff(attempt, random = Math.random) {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

export class LiveSocket {
  /**
   * handlers: { onOpen(), onMessage(msg), onClose(), onStatus(state, detail) }
   * where state is 'connecting' | 'open' | 'waiting' | 'offline'.
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0; // failed attempts since the last hello
    this.retryTimer = 0;
    this.retryAt = 0;

    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
  }

  /** True when a message sent now reaches the server. */
  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.handlers.onStatus('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.ws) return;
      this.handlers.onStatus('open');
      this.handlers.onOpen();
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // not ours to understand; the server only sends JSON
      }
      // Only a greeting proves the server is really serving: reset the backoff then.
      if (msg && msg.type === 'hello') this.attempt = 0;
      this.handlers.onMessage(msg);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.handlers.onClose();
      this.scheduleRetry();
    });
    // 'error' is always followed by 'close', which does the work.
  }

  /** Send one message as JSON; false (and nothing sent) if the connection is down. */
  send(msg) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  scheduleRetry() {
    if (!navigator.onLine) {
      this.handlers.onStatus('offline');
      return; // the 'online' event reconnects
    }
    this.attempt += 1;
    const delay = backoff(this.attempt);
    this.retryAt = Date.now() + delay;
    this.handlers.onStatus('waiting', { at: this.retryAt, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Skip the rest of the wait (the network is back, or the tab is visible again). */
  reconnectNow() {
    if (this.ws !== null) return;
    if (!navigator.onLine) {
      this.handlers.onStatus('offline');
      return;
    }
    this.connect();
  }
}
