// node --test: the protocol client (evalsvc/web/client.js) against a scripted server:
// auth first, hello with the seq it holds, the outbox sent once per connection and again
// (same id) after a drop, acks clearing it, gaps resynced, duplicates ignored.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SessionClient } from "../../evalsvc/web/client.js";
import { Outbox } from "../../evalsvc/web/store.js";

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    key: (i) => [...m.keys()][i] ?? null,
    get length() { return m.size; },
  };
}

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen();
    });
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.onclose({ code });
  }
  receive(msg) {
    this.onmessage({ data: JSON.stringify(msg) });
  }
  types() {
    return this.sent.map((m) => m.type);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function client(outbox) {
  FakeSocket.all = [];
  const gets = [];
  const c = new SessionClient({
    sessionId: "s-1", token: () => "evs1.t", outbox, WebSocketImpl: FakeSocket, url: "ws://x/ws/sessions/s-1",
    get: async (path) => {
      gets.push(path);
      return { id: "s-1", last_seq: 0 };
    },
  });
  c.gets = gets;
  return c;
}

test("auth first, hello from nothing, then the stream; the document is re-read when synced", async () => {
  const c = client(null);
  const events = [];
  c.on("event", (e, replay) => events.push([e.seq, replay]));
  c.start();
  await tick();
  const ws = FakeSocket.all[0];
  assert.deepEqual(ws.sent[0], { type: "auth", token: "evs1.t" });
  ws.receive({ type: "auth_ok", epoch: "ep-1", seq: 2 });
  assert.deepEqual(ws.sent[1], { type: "hello", epoch: null, last_seq: 0 });
  ws.receive({ type: "event", seq: 1, event: "a", payload: {} });
  ws.receive({ type: "event", seq: 2, event: "b", payload: {} });
  ws.receive({ type: "synced", seq: 2 });
  ws.receive({ type: "event", seq: 2, event: "b", payload: {} }); // duplicate: ignored
  ws.receive({ type: "event", seq: 3, event: "c", payload: {} });
  await tick();
  assert.deepEqual(events, [[1, true], [2, true], [3, false]]);
  assert.equal(c.status, "live");
  assert.ok(c.gets.length >= 1);
  ws.receive({ type: "event", seq: 5, event: "e", payload: {} }); // a gap: resync from 3
  assert.deepEqual(ws.sent.at(-1), { type: "hello", epoch: "ep-1", last_seq: 3 });
  c.stop();
});

test("the outbox is sent when synced, re-sent with the same id after a drop, cleared by the ack", async () => {
  const storage = memoryStorage();
  const box = new Outbox(storage, "s-1", "E1");
  box.add({ type: "submit", id: "sheet-1-abc", sheet: { stage: "scoring", bids: {} }, queued_ms: 1 });
  const c = client(box);
  const acked = [];
  c.on("outbox-ack", (id, ack) => acked.push([id, ack.result.version]));
  c.start();
  await tick();
  let ws = FakeSocket.all[0];
  ws.receive({ type: "auth_ok", epoch: "ep-1", seq: 0 });
  assert.deepEqual(ws.types(), ["auth", "hello"]); // nothing before synced
  ws.receive({ type: "synced", seq: 0 });
  assert.deepEqual(ws.sent.at(-1), { type: "submit", id: "sheet-1-abc", sheet: { stage: "scoring", bids: {} } });
  c.flush(); // a second flush on the same connection sends nothing more
  assert.equal(ws.types().filter((t) => t === "submit").length, 1);

  ws.close(1006); // dropped before the ack
  assert.equal(c.status, "offline");
  c.online(); // the link is back
  await tick();
  ws = FakeSocket.all[1];
  ws.receive({ type: "auth_ok", epoch: "ep-1", seq: 1 });
  assert.deepEqual(ws.sent[1], { type: "hello", epoch: null, last_seq: 0 });
  ws.receive({ type: "event", seq: 1, event: "sheet.submitted", payload: {} });
  ws.receive({ type: "synced", seq: 1 });
  const resent = ws.sent.filter((m) => m.type === "submit");
  assert.deepEqual(resent.map((m) => m.id), ["sheet-1-abc"]); // the same idempotency key
  ws.receive({ type: "ack", id: "sheet-1-abc", seq: 1, replayed: true, result: { version: 1 } });
  assert.deepEqual(acked, [["sheet-1-abc", 1]]);
  assert.deepEqual(box.all(), []);
  c.stop();
});

test("a refused token stops reconnecting; an error for an outbox message clears it and is reported", async () => {
  const storage = memoryStorage();
  const box = new Outbox(storage, "s-1", "E1");
  box.add({ type: "submit", id: "sheet-1-bad", sheet: {} });
  const c = client(box);
  const errors = [];
  c.on("outbox-error", (id, err) => errors.push([id, err.code, err.field]));
  c.start();
  await tick();
  const ws = FakeSocket.all[0];
  ws.receive({ type: "auth_ok", epoch: "ep-1", seq: 0 });
  ws.receive({ type: "synced", seq: 0 });
  ws.receive({ type: "error", id: "sheet-1-bad", code: "invalid_input", message: "x", field: "bids/B1/T1" });
  assert.deepEqual(errors, [["sheet-1-bad", "invalid_input", "bids/B1/T1"]]);
  assert.deepEqual(box.all(), []);
  ws.close(4401);
  await tick();
  assert.equal(c.status, "refused");
  assert.equal(FakeSocket.all.length, 1);
  c.stop();
});

test("a client stopped while the document is being read emits nothing more", async () => {
  // The operator goes back to the list while the re-read after "synced" is under way:
  // the screen it was for is gone, and rendering it threw (tests/e2e/test_browser.py
  // saw "Cannot set properties of null" in the console).
  FakeSocket.all = [];
  let answer = null;
  const c = new SessionClient({
    sessionId: "s-1", token: () => "evs1.t", WebSocketImpl: FakeSocket, url: "ws://x/ws/sessions/s-1",
    get: () => new Promise((resolve, reject) => { answer = { resolve, reject }; }),
  });
  const seen = [];
  c.on("session", (doc) => seen.push(["session", doc.id]));
  c.on("problem", (p) => seen.push(["problem", p.code]));
  c.start();
  await tick();
  const ws = FakeSocket.all[0];
  ws.receive({ type: "auth_ok", epoch: "ep-1", seq: 0 });
  ws.receive({ type: "synced", seq: 0 });
  assert.ok(answer, "the document is being read");
  c.stop();
  answer.resolve({ id: "s-1", last_seq: 0 });
  await tick();
  assert.deepEqual(seen, []);
  // A read that fails after the stop is not reported either.
  c.start();
  await tick();
  const ws2 = FakeSocket.all[1];
  ws2.receive({ type: "auth_ok", epoch: "ep-1", seq: 0 });
  ws2.receive({ type: "synced", seq: 0 });
  c.stop();
  answer.reject(Object.assign(new Error("offline"), { code: "network" }));
  await tick();
  assert.deepEqual(seen, []);
});
