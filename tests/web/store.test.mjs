// node --test: drafts and the outbox (evalsvc/web/store.js) over a stand-in localStorage.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Drafts, Outbox, clearAll, messageId } from "../../evalsvc/web/store.js";

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

test("drafts are kept per session, stage and seat", () => {
  const s = memoryStorage();
  new Drafts(s, "s-1", "scoring", 6).save({ B1: { T1: "34" } });
  assert.deepEqual(new Drafts(s, "s-1", "scoring", 6).load(), { B1: { T1: "34" } });
  assert.equal(new Drafts(s, "s-1", "qualification", 6).load(), null);
  assert.equal(new Drafts(s, "s-1", "scoring", 5).load(), null);
});

test("the outbox keeps one message per id until it is acknowledged", () => {
  const s = memoryStorage();
  const box = new Outbox(s, "s-1", "seat-6");
  box.add({ id: "sheet-a", type: "submit" });
  box.add({ id: "sheet-a", type: "submit" });
  box.add({ id: "sheet-b", type: "submit" });
  assert.deepEqual(new Outbox(s, "s-1", "seat-6").all().map((m) => m.id), ["sheet-a", "sheet-b"]);
  assert.equal(box.remove("sheet-a"), true);
  assert.equal(box.remove("sheet-a"), false);
  assert.deepEqual(box.all().map((m) => m.id), ["sheet-b"]);
});

test("sign-out forgets every evalsvc key and nothing else", () => {
  const s = memoryStorage();
  s.setItem("other", "1");
  new Drafts(s, "s-1", "scoring", 6).save({ B1: {} });
  new Outbox(s, "s-1", "seat-6").add({ id: "x" });
  clearAll(s);
  assert.equal(s.length, 1);
  assert.equal(s.getItem("other"), "1");
});

test("message ids fit the protocol's alphabet and length", () => {
  const id = messageId("sheet", () => "3f2a9c0d-41b7-4e6a-95aa-000000000000");
  assert.match(id, /^[A-Za-z0-9_.:-]{8,100}$/);
});
