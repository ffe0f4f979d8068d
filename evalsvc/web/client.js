// The one protocol client (docs/protocol.md): it owns the session's WebSocket — `auth`
// first, `hello` with the epoch and last seq it holds, replay or snapshot, `synced`, live
// events — reconnects after any drop with exponential backoff and full jitter, resumes
// from its seq, and sends the outbox (messages with an idempotency `id`) whenever it is
// synced, so a submission made offline is delivered once when the link is back.
//
// The session document the screens render is re-read (GET /api/sessions/{id}) after the
// stream is synced and after live events, coalesced: the document is the server's own
// redacted view, so screens never fold blinded data themselves.

const RECONNECT_CAP_MS = 30_000;
const RECONNECT_BASE_MS = 200;
const HEARTBEAT_MS = 15_000;

export class SessionClient {
  /**
   * @param {object} o
   * @param {string} o.sessionId
   * @param {() => string} o.token  the bearer token (read at every connect)
   * @param {(path: string) => Promise<object>} o.get  authenticated GET returning JSON
   * @param {{all(): object[], remove(id: string): boolean}} [o.outbox]
   * @param {typeof WebSocket} [o.WebSocketImpl]
   */
  constructor({ sessionId, token, get, outbox = null, WebSocketImpl = globalThis.WebSocket, url = null }) {
    this.sessionId = sessionId;
    this.token = token;
    this.get = get;
    this.outbox = outbox;
    this.WebSocketImpl = WebSocketImpl;
    this.url = url || SessionClient.defaultUrl(sessionId);
    this.epoch = null;
    this.lastSeq = 0;
    this.session = null;
    this.status = "connecting"; // connecting | live | offline | closed | refused
    this.listeners = new Map();
    this.pending = new Map(); // id -> {resolve, reject} for request()
    this.inflight = new Set(); // outbox ids sent on this connection
    this.attempt = 0;
    this.ws = null;
    this.synced = false;
    this.closed = false;
    this.refreshing = null;
    this.refreshAgain = false;
    this.timer = null;
    this.heartbeat = null;
  }

  static defaultUrl(sessionId) {
    const proto = globalThis.location && globalThis.location.protocol === "https:" ? "wss:" : "ws:";
    const host = globalThis.location ? globalThis.location.host : "localhost";
    return `${proto}//${host}/ws/sessions/${encodeURIComponent(sessionId)}`;
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, ...args) {
    for (const fn of this.listeners.get(name) || []) {
      try {
        fn(...args);
      } catch (err) {
        // A screen's bug must not stop the stream; it shows in the console for tests.
        console.error(err);
      }
    }
  }

  setStatus(s) {
    if (this.status !== s) {
      this.status = s;
      this.emit("status", s);
    }
  }

  start() {
    this.closed = false;
    this.connect();
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.setStatus("closed");
    for (const p of this.pending.values()) p.reject(Object.assign(new Error("closed"), { code: "network" }));
    this.pending.clear();
  }

  /** The browser says the network is gone: drop the socket now rather than wait for TCP. */
  offline() {
    if (this.ws) this.ws.close(4000);
  }

  /** The browser says the network is back: reconnect at once. */
  online() {
    if (!this.closed && (!this.ws || this.status === "offline")) {
      clearTimeout(this.timer);
      this.attempt = 0;
      this.connect();
    }
  }

  connect() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.setStatus("connecting");
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.synced = false;
    this.inflight.clear();
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.token() }));
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.synced = false;
      clearInterval(this.heartbeat);
      for (const [id, p] of this.pending) {
        p.reject(Object.assign(new Error("link lost"), { code: "network", id }));
      }
      this.pending.clear();
      if (this.closed) return;
      if (ev && (ev.code === 4401 || ev.code === 4403 || ev.code === 4404)) {
        this.setStatus("refused");
        return;
      }
      this.setStatus("offline");
      this.scheduleReconnect();
    };
    ws.onerror = () => {};
  }

  scheduleReconnect() {
    // While the browser knows it is offline, wait for its "online" event (online()).
    if (globalThis.navigator && globalThis.navigator.onLine === false) return;
    // docs/protocol.md: uniform(0, min(30 s, 0.2 s · 2^attempt)).
    const cap = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === 1) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  handle(msg) {
    switch (msg.type) {
      case "auth_ok":
        this.you = msg.you;
        if (this.epoch !== null && msg.epoch !== this.epoch) this.lastSeq = 0;
        this.send({ type: "hello", epoch: this.lastSeq ? this.epoch : null, last_seq: this.lastSeq });
        this.epoch = msg.epoch;
        break;
      case "event":
        if (msg.seq <= this.lastSeq) return; // already held (a replay overlapping live events)
        if (msg.seq !== this.lastSeq + 1) {
          // A gap is a bug somewhere; resync from what we hold (protocol "Sequence numbers").
          this.send({ type: "hello", epoch: this.epoch, last_seq: this.lastSeq });
          return;
        }
        this.lastSeq = msg.seq;
        this.emit("event", msg, !this.synced);
        if (this.synced) this.refresh();
        break;
      case "snapshot":
        this.epoch = msg.epoch;
        this.lastSeq = msg.seq;
        this.session = msg.session;
        this.emit("snapshot", msg);
        break;
      case "synced":
        this.synced = true;
        this.attempt = 0;
        this.setStatus("live");
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => this.send({ type: "heartbeat", seq: this.lastSeq }), HEARTBEAT_MS);
        this.refresh();
        this.flush();
        break;
      case "heartbeat":
        if (this.synced && msg.seq > this.lastSeq && this.pending.size === 0) {
          this.send({ type: "hello", epoch: this.epoch, last_seq: this.lastSeq });
        }
        break;
      case "ack":
        this.settle(msg.id, msg, null);
        break;
      case "error":
        if (msg.id) this.settle(msg.id, null, msg);
        else this.emit("problem", msg);
        break;
      case "presence":
        this.emit("presence", msg);
        break;
      case "bye":
        this.emit("bye", msg);
        break;
      default:
        break;
    }
  }

  settle(id, ack, error) {
    if (this.outbox && this.outbox.remove(id)) this.emit(error ? "outbox-error" : "outbox-ack", id, ack || error);
    this.inflight.delete(id);
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      if (error) p.reject(Object.assign(new Error(error.code), error));
      else p.resolve(ack);
    }
  }

  /** Send what the outbox holds and this connection has not sent yet. */
  flush() {
    if (!this.outbox || !this.synced) return;
    for (const msg of this.outbox.all()) {
      if (this.inflight.has(msg.id)) continue;
      const { queued_ms: _, ...wire } = msg;
      if (this.send(wire)) this.inflight.add(msg.id);
    }
  }

  /** One command now (not kept across drops): resolves with the ack, rejects with the error. */
  request(msg) {
    return new Promise((resolve, reject) => {
      if (!this.synced || !this.send(msg)) {
        reject(Object.assign(new Error("offline"), { code: "network" }));
        return;
      }
      this.pending.set(msg.id, { resolve, reject });
    });
  }

  /** Re-read the session document; several calls while one runs make one more. */
  refresh() {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const doc = await this.get(`/api/sessions/${encodeURIComponent(this.sessionId)}`);
          // Stopped while the read was under way (the operator went back to the list):
          // the screen this document was for is gone — rendering it threw on a missing
          // header, as an uncaught error in the console.
          if (this.closed) return;
          this.session = doc;
          this.emit("session", doc);
        } while (this.refreshAgain);
      } catch (err) {
        if (!this.closed) this.emit("problem", { code: err.code || "network" });
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
