// The browser's certificate key module: canonical JSON, DER signatures, key files.
// Signing with the dev PKI's keys against the server's verifier: tests/web/test_certkey.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { canonicalJson, loadSigner, pemBlocks, rawToDer, KeyFileError } from "../../evalsvc/web/certkey.js";
import sm2 from "../../evalsvc/web/vendor/sm2.js";

const text = (bytes) => new TextDecoder().decode(bytes);

test("canonical JSON sorts members by UTF-16 code units at every level (RFC 8785 §3.2.3)", () => {
  const doc = { stage: "scoring", bids: { B2: { T1: "35.5" }, B10: { T1: "4" }, b1: { 评分: "1", C1: "2" } } };
  assert.equal(text(canonicalJson(doc)), '{"bids":{"B10":{"T1":"4"},"B2":{"T1":"35.5"},"b1":{"C1":"2","评分":"1"}},"stage":"scoring"}');
  assert.equal(text(canonicalJson({ a: 1e21, b: 0.1, c: true, d: null, e: [-0, 5] })), '{"a":1e+21,"b":0.1,"c":true,"d":null,"e":[0,5]}');
  assert.equal(text(canonicalJson({ s: "\u2028\"\\\n" })), '{"s":"\u2028\\"\\\\\\n"}');
  assert.throws(() => canonicalJson({ x: NaN }), TypeError);
});

test("an r‖s signature becomes DER with a leading zero only where the high bit is set", () => {
  const r = new Uint8Array(32).fill(0x80);
  const s = new Uint8Array(32);
  s[31] = 5;
  const der = rawToDer(new Uint8Array([...r, ...s]));
  assert.deepEqual([...der.subarray(0, 5)], [0x30, 33 + 2 + 1 + 2, 0x02, 33, 0x00]);
  assert.deepEqual([...der.subarray(der.length - 3)], [0x02, 1, 5]);
});

test("a WebCrypto ECDSA key signs DER that verifies once turned back", async () => {
  const kp = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", kp.privateKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString("base64")}\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
  const signer = await loadSigner(pem, webcrypto.subtle);
  assert.equal(signer.algorithm, "ecdsa-p256");
  const data = new TextEncoder().encode("报告");
  const der = await signer.sign(data);
  assert.equal(der[0], 0x30);
  // DER → r‖s for WebCrypto's verify.
  const ints = [];
  for (let at = 2; at < der.length;) {
    const len = der[at + 1];
    ints.push(der.subarray(at + 2, at + 2 + len).subarray(len > 32 ? len - 32 : 0));
    at += 2 + len;
  }
  const raw = new Uint8Array(64);
  raw.set(ints[0], 32 - ints[0].length);
  raw.set(ints[1], 64 - ints[1].length);
  assert.equal(await webcrypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, kp.publicKey, raw, data), true);
  data[0] ^= 1;
  assert.equal(await webcrypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, kp.publicKey, raw, data), false);
});

test("sm-crypto (vendored) signs SM2-with-SM3 with the default signer id only", () => {
  const kp = sm2.generateKeyPairHex();
  const data = [1, 2, 3];
  const sig = sm2.doSignature(data, kp.privateKey, { hash: true, der: true, userId: "1234567812345678" });
  assert.ok(sig.startsWith("30"));
  assert.equal(sm2.doVerifySignature(data, sig, kp.publicKey, { hash: true, der: true, userId: "1234567812345678" }), true);
  assert.equal(sm2.doVerifySignature(data, sig, kp.publicKey, { hash: true, der: true, userId: "" }), false);
});

test("files that hold no usable key are refused with a code the page words", async () => {
  await assert.rejects(loadSigner("not a pem", webcrypto.subtle), (e) => e instanceof KeyFileError && e.code === "no_key");
  const enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
  await assert.rejects(loadSigner(enc, webcrypto.subtle), (e) => e.code === "encrypted_key");
  const junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
  await assert.rejects(loadSigner(junk, webcrypto.subtle), (e) => e.code === "bad_key");
  assert.equal(pemBlocks("x").length, 0);
});
