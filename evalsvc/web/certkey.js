// A certificate key in the browser: read a PEM file (the private key and the certificate
// chain, leaf first), and sign bytes the way the server verifies them (docs/pki.md
// "Signatures over canonical bytes"):
//   SM2   SM2-with-SM3, signer id 1234567812345678, DER SEQUENCE {r, s} (sm-crypto, vendored)
//   ECDSA P-256/SHA-256, P-384/SHA-384, DER (WebCrypto signs r‖s; converted here)
//   RSA   PKCS#1 v1.5 with SHA-256 (WebCrypto RSASSA-PKCS1-v1_5)
// and RFC 8785 canonical JSON for what is signed (a score sheet's {"stage", "bids"}).
// Pure apart from WebCrypto (passed in) and the SM2 library: unit-tested under Node.

import sm2 from "./vendor/sm2.js";

// GM/T 0009-2012 §10: the default signer id; the server refuses any other.
export const SM2_SIGNER_ID = "1234567812345678";

const OID = {
  "1.2.840.113549.1.1.1": "rsa",
  "1.2.840.10045.2.1": "ec",
  "1.2.156.10197.1.301": "sm2-curve",
  "1.2.840.10045.3.1.7": "p256",
  "1.3.132.0.34": "p384",
};

/** A file that is not a usable key: `code` keys the Chinese message (i18n KEY_ERROR_ZH). */
export class KeyFileError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

function b64decode(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Every PEM block of `text`: [{label, der, pem}] in file order. */
export function pemBlocks(text) {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const out = [];
  for (const m of String(text).matchAll(re)) {
    const body = m[2].replace(/\s+/g, "");
    let der;
    try {
      der = b64decode(body);
    } catch {
      throw new KeyFileError("bad_pem");
    }
    out.push({ label: m[1], der, pem: m[0] });
  }
  return out;
}

// --- a small DER reader (X.690): enough for PKCS#8, RFC 5915 and an OID -----------------

function tlv(bytes, at) {
  if (at + 2 > bytes.length) throw new KeyFileError("bad_key");
  const tag = bytes[at];
  let len = bytes[at + 1];
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || at + 2 + n > bytes.length) throw new KeyFileError("bad_key");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[at + 2 + i];
    head += n;
  }
  const start = at + head;
  if (start + len > bytes.length) throw new KeyFileError("bad_key");
  return { tag, start, end: start + len, content: bytes.subarray(start, start + len) };
}

function children(node, bytes) {
  const out = [];
  for (let at = node.start; at < node.end;) {
    const c = tlv(bytes, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

function oid(content) {
  const parts = [Math.floor(content[0] / 40), content[0] % 40];
  let v = 0;
  for (const b of content.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** RFC 5915 ECPrivateKey → {d (32 bytes hex), curve OID name or null}. */
function sec1(der) {
  const top = tlv(der, 0);
  const items = children(top, der);
  if (top.tag !== 0x30 || items.length < 2 || items[1].tag !== 0x04) throw new KeyFileError("bad_key");
  let curve = null;
  for (const it of items.slice(2)) {
    if (it.tag === 0xa0) curve = OID[oid(tlv(der, it.start).content)] || "unknown";
  }
  return { d: hex(items[1].content).replace(/^(00)+(?=.{64}$)/, "").padStart(64, "0"), curve };
}

/**
 * What kind of key a PEM private-key block holds: {algorithm, format, der, sm2Hex?}.
 * algorithm is "rsa", "ecdsa-p256", "ecdsa-p384" or "sm2".
 */
export function classifyKey(block) {
  if (block.label === "EC PRIVATE KEY") {
    const { d, curve } = sec1(block.der);
    if (curve === "sm2-curve") return { algorithm: "sm2", format: "sec1", sm2Hex: d };
    // WebCrypto imports EC keys as PKCS#8 only; GmSSL/Tongsuo write SM2 this way.
    throw new KeyFileError("unsupported_key");
  }
  if (block.label !== "PRIVATE KEY") throw new KeyFileError(block.label.includes("ENCRYPTED") ? "encrypted_key" : "no_key");
  const der = block.der;
  const top = tlv(der, 0);
  const items = children(top, der);
  if (top.tag !== 0x30 || items.length < 3) throw new KeyFileError("bad_key");
  const alg = children(items[1], der);
  const kind = OID[oid(alg[0].content)];
  const param = alg[1] && alg[1].tag === 0x06 ? OID[oid(alg[1].content)] : null;
  if (kind === "rsa") return { algorithm: "rsa", format: "pkcs8", der };
  if (kind === "ec" && param === "p256") return { algorithm: "ecdsa-p256", format: "pkcs8", der };
  if (kind === "ec" && param === "p384") return { algorithm: "ecdsa-p384", format: "pkcs8", der };
  if (kind === "ec" && param === "sm2-curve") {
    return { algorithm: "sm2", format: "pkcs8", sm2Hex: sec1(items[2].content).d };
  }
  throw new KeyFileError("unsupported_key");
}

/** IEEE P1363 r‖s (what WebCrypto's ECDSA returns) → DER SEQUENCE {INTEGER r, INTEGER s}. */
export function rawToDer(raw) {
  const half = raw.length / 2;
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.subarray(i);
    return v[0] & 0x80 ? [0x02, v.length + 1, 0, ...v] : [0x02, v.length, ...v];
  };
  const body = [...int(raw.subarray(0, half)), ...int(raw.subarray(half))];
  const len = body.length < 128 ? [body.length] : [0x81, body.length];
  return new Uint8Array([0x30, ...len, ...body]);
}

function hexToBytes(h) {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Read a key file (PEM: the private key, then the certificate and its chain, leaf first;
 * in any order) → a signer {algorithm, certificate, sign(bytes) → DER Uint8Array}.
 * `subtle` is WebCrypto's SubtleCrypto (a parameter, so Node's can be passed in tests).
 */
export async function loadSigner(text, subtle = globalThis.crypto.subtle) {
  const blocks = pemBlocks(text);
  const keys = blocks.filter((b) => b.label.includes("PRIVATE KEY"));
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  if (!keys.length) throw new KeyFileError("no_key");
  if (keys.length > 1) throw new KeyFileError("two_keys");
  if (!certs.length) throw new KeyFileError("no_certificate");
  const info = classifyKey(keys[0]);
  const certificate = certs.map((c) => c.pem).join("\n") + "\n";
  let sign;
  if (info.algorithm === "sm2") {
    const d = info.sm2Hex;
    const publicKey = sm2.getPublicKeyFromPrivateKey(d);
    sign = async (bytes) => hexToBytes(sm2.doSignature(Array.from(bytes), d,
      { hash: true, der: true, userId: SM2_SIGNER_ID, publicKey }));
  } else if (info.algorithm === "rsa") {
    const key = await subtle.importKey("pkcs8", info.der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"])
      .catch(() => { throw new KeyFileError("bad_key"); });
    sign = async (bytes) => new Uint8Array(await subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, key, bytes));
  } else {
    const p384 = info.algorithm === "ecdsa-p384";
    const key = await subtle.importKey("pkcs8", info.der, { name: "ECDSA", namedCurve: p384 ? "P-384" : "P-256" }, false, ["sign"])
      .catch(() => { throw new KeyFileError("bad_key"); });
    const hash = p384 ? "SHA-384" : "SHA-256";
    sign = async (bytes) => rawToDer(new Uint8Array(await subtle.sign({ name: "ECDSA", hash }, key, bytes)));
  }
  return { algorithm: info.algorithm, certificate, sign };
}

/**
 * RFC 8785 canonical JSON (JCS) as UTF-8 bytes: object members sorted by UTF-16 code
 * units, ECMAScript number and string serialization — which is JSON.stringify's.
 */
export function canonicalJson(value) {
  const walk = (v) => {
    if (v === null || typeof v !== "object") {
      if (typeof v === "number" && !Number.isFinite(v)) throw new TypeError("non-finite number");
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return `[${v.map(walk).join(",")}]`;
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${walk(v[k])}`).join(",")}}`;
  };
  return new TextEncoder().encode(walk(value));
}

/** A score sheet with its signature: signs the canonical bytes of {"stage", "bids"}. */
export async function signSheet(signer, sheet) {
  const doc = { stage: sheet.stage, bids: sheet.bids };
  const signature = b64encode(await signer.sign(canonicalJson(doc)));
  return { ...doc, signature, certificate: signer.certificate };
}

/** The fields a `sign_report` command adds: a signature over the report's signing bytes. */
export async function signReport(signer, signingBytesB64) {
  const signature = b64encode(await signer.sign(b64decode(signingBytesB64)));
  return { signature, certificate: signer.certificate };
}

/** The certificate login: ask a challenge, sign its bytes, log in → the server's answer. */
export async function certificateLogin(signer, { session, role }, post) {
  const ch = await post("/api/auth/challenge", { session, purpose: "login" });
  const signature = b64encode(await signer.sign(b64decode(ch.signing_bytes)));
  return post("/api/auth/login", { nonce: ch.nonce, certificate: signer.certificate, signature, role });
}
