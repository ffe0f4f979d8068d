// node --test: the in-browser audit verifier (evalsvc/web/verify.js) against a log signed
// by evalsvc's Python code (fixtures/audit.json, written by make_fixtures.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { b64decode, leafOfEntry, verifyEntry, verifyNote } from "../../evalsvc/web/verify.js";

const fx = JSON.parse(readFileSync(new URL("./fixtures/audit.json", import.meta.url), "utf-8"));

test("every entry of the Python-signed log verifies", async () => {
  for (let i = 0; i < fx.entries.length; i += 1) {
    const r = await verifyEntry({ entry: b64decode(fx.entries[i]), tlogProof: fx.proofs[i], vkey: fx.log_vkey,
      witnessKeys: [fx.witness_vkey], index: i });
    assert.equal(r.ok, true, `${i}: ${r.reason}`);
    assert.equal(r.size, 7);
    assert.deepEqual(r.cosignatures, [{ name: "venue.suzhou.test", verified: true, time: 1796553300 }]);
  }
});

test("a changed entry byte fails", async () => {
  for (let i = 0; i < fx.entries.length; i += 1) {
    const entry = b64decode(fx.entries[i]);
    entry[entry.length - 2] ^= 1;
    const r = await verifyEntry({ entry, tlogProof: fx.proofs[i], vkey: fx.log_vkey });
    assert.equal(r.ok, false);
    assert.match(r.reason, /根哈希/);
  }
});

test("a flipped proof bit, a wrong index or a wrong key fails", async () => {
  const entry = b64decode(fx.entries[3]);
  const lines = fx.proofs[3].split("\n");
  const h = b64decode(lines[2]);
  h[0] ^= 0x80;
  lines[2] = Buffer.from(h).toString("base64");
  assert.equal((await verifyEntry({ entry, tlogProof: lines.join("\n"), vkey: fx.log_vkey })).ok, false);
  assert.equal((await verifyEntry({ entry, tlogProof: fx.proofs[3], vkey: fx.log_vkey, index: 2 })).ok, false);
  const other = "evalsvc.test/s-fixture+12345678+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
  const r = await verifyEntry({ entry, tlogProof: fx.proofs[3], vkey: other });
  assert.equal(r.ok, false);
  assert.match(r.reason, /标识/);
});

test("a checkpoint with an altered size or root is refused by its signature", async () => {
  const forged = fx.checkpoint.replace("\n7\n", "\n8\n");
  await assert.rejects(verifyNote(forged, fx.log_vkey), /签名无效/);
  const unknownWitness = await verifyNote(fx.checkpoint, fx.log_vkey, []);
  assert.deepEqual(unknownWitness.cosignatures, [{ name: "venue.suzhou.test", verified: false, time: null }]);
});

test("format-2 and format-3 entries and a venue's redacted view recompute the leaf evalsvc logged", async () => {
  assert.deepEqual(fx.format2.map((f) => JSON.parse(Buffer.from(b64decode(f.entry)).toString("utf-8")).v), [2, 2, 3]);
  for (const f of fx.format2) {
    const leaf = Buffer.from(b64decode(f.leaf)).toString("utf-8");
    assert.equal(Buffer.from(await leafOfEntry(b64decode(f.entry))).toString("utf-8"), leaf);
    assert.equal(Buffer.from(await leafOfEntry(b64decode(f.view))).toString("utf-8"), leaf);
    // A changed disclosed value gives another leaf.
    const doc = JSON.parse(Buffer.from(b64decode(f.entry)).toString("utf-8"));
    doc.disclosed[0][2] = "operator:李";
    const other = await leafOfEntry(new TextEncoder().encode(JSON.stringify(doc)));
    assert.notEqual(Buffer.from(other).toString("utf-8"), leaf);
  }
});
