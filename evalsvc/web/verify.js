// Audit-log verification in the browser, with WebCrypto only: the page's server is not
// trusted for the verdict. The same formats as evalsvc/audit/{merkle,note}.py:
// RFC 6962 / RFC 9162 §2.1 hashing (leaf SHA-256(0x00‖d), node SHA-256(0x01‖l‖r)),
// RFC 9162 §2.1.3.2 inclusion verification, C2SP signed-note (Ed25519, key ID
// SHA-256(name‖0x0A‖0x01‖pub)[:4]), tlog-checkpoint, tlog-cosignature v1 and tlog-proof v1.
// Pure apart from crypto.subtle (present in browsers and in Node ≥ 20).

const enc = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;

export class VerifyError extends Error {}

export function b64decode(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) throw new VerifyError("不是有效的 base64");
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i += 1) d |= a[i] ^ b[i];
  return d === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

/** RFC 6962 §2.1 leaf hash. */
export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

/** RFC 8785 (JCS) text of a JSON value: ECMAScript serialisation of strings and numbers,
 * object keys sorted by UTF-16 code units — what Array.prototype.sort does. */
export function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

function unhex(text) {
  if (!/^([0-9a-f]{2})+$/.test(text)) throw new VerifyError("盐值不是十六进制");
  return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
}

/** The leaf an audit entry commits to (docs/audit.md "Leaves"): for a format-2 entry the
 * RFC 8785 {"v":2, envelope, "digests"} over SHA-256(salt ‖ JCS([name, value])) of each
 * disclosed field and the digests of the hidden ones, sorted; format 3 (nested
 * disclosure) the same with "v":3 over the committed values — its "nested" disclosures
 * are not needed for the leaf; a format-1 entry is its own leaf. */
export async function leafOfEntry(entry) {
  let doc;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
  } catch {
    return entry;
  }
  if (!doc || (doc.v !== 2 && doc.v !== 3)) return entry;
  const keys = Object.keys(doc).sort().join(",");
  const expected = doc.v === 2 ? "action,disclosed,hidden,seq,session,time_ms,v,venue"
    : "action,disclosed,hidden,nested,seq,session,time_ms,v,venue";
  if (keys !== expected || !Array.isArray(doc.disclosed)
      || !Array.isArray(doc.hidden)) throw new VerifyError("审计记录格式不正确");
  const digests = [...doc.hidden];
  for (const d of doc.disclosed) {
    if (!Array.isArray(d) || d.length !== 3) throw new VerifyError("审计记录格式不正确");
    const salt = unhex(d[0]);
    if (salt.length < 16) throw new VerifyError("盐值过短");
    digests.push(hex(await sha256(concat(salt, enc.encode(canonical([d[1], d[2]]))))));
  }
  digests.sort();
  const { session, seq, action, venue, time_ms: timeMs } = doc;
  return enc.encode(canonical({ v: doc.v, session, seq, action, venue, time_ms: timeMs, digests }));
}

/** RFC 6962 §2.1 interior node hash. */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function innerProofSize(index, size) {
  // Bits where index and size-1 differ (RFC 9162 §2.1.3.2 path length).
  let x = BigInt(index) ^ BigInt(size - 1);
  let n = 0;
  while (x > 0n) {
    n += 1;
    x >>= 1n;
  }
  return n;
}

function popcount(v) {
  let x = BigInt(v);
  let n = 0;
  while (x > 0n) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}

/** RFC 9162 §2.1.3.2: throws VerifyError (Chinese) saying which check failed. */
export async function verifyInclusion({ index, size, leaf, proof, root }) {
  if (!(index >= 0 && index < size)) throw new VerifyError(`条目序号 ${index} 不在大小为 ${size} 的日志中`);
  const inner = innerProofSize(index, size);
  const expected = inner + popcount(index >> inner);
  if (proof.length !== expected) {
    throw new VerifyError(`包含证明长度不对：应有 ${expected} 个哈希，实际 ${proof.length} 个`);
  }
  for (const p of proof) if (p.length !== 32) throw new VerifyError("包含证明中的哈希长度不对");
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError("包含证明比到根的路径长");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("包含证明比到根的路径短");
  if (!equal(r, root)) throw new VerifyError("由条目和证明算出的根哈希与检查点不一致");
}

/** C2SP signed-note: {text, signatures: [{name, keyId, sig}]}. */
export function splitNote(note) {
  const at = note.indexOf("\n\n");
  if (at < 0 || !note.endsWith("\n")) throw new VerifyError("签名文本格式不对");
  const text = note.slice(0, at + 1);
  const signatures = [];
  for (const line of note.slice(at + 2, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new VerifyError("签名行格式不对");
    const raw = b64decode(m[2]);
    if (raw.length < 5) throw new VerifyError("签名太短");
    signatures.push({ name: m[1], keyId: raw.slice(0, 4), sig: raw.slice(4) });
  }
  return { text, signatures };
}

/** tlog-checkpoint body: {origin, size, root}. */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || !/^[0-9]+$/.test(lines[1])) throw new VerifyError("检查点格式不对");
  const root = b64decode(lines[2]);
  if (root.length !== 32) throw new VerifyError("检查点根哈希长度不对");
  return { origin: lines[0], size: Number(lines[1]), root };
}

/** A verifier key "name+hexid+base64(type‖pub)" → {name, id, type, pub}, its id checked. */
export async function parseVkey(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(String(vkey).trim());
  if (!m) throw new VerifyError("日志公钥格式不对（应为 名称+8位十六进制+base64）");
  const raw = b64decode(m[3]);
  if (raw.length !== 33 || (raw[0] !== 0x01 && raw[0] !== 0x04)) throw new VerifyError("日志公钥不是 Ed25519 公钥");
  const id = (await sha256(concat(enc.encode(`${m[1]}\n`), raw))).slice(0, 4);
  if (hex(id) !== m[2]) throw new VerifyError("日志公钥的标识与公钥不符");
  return { name: m[1], id, type: raw[0], pub: raw.slice(1) };
}

async function ed25519Verify(pub, sig, message) {
  const key = await subtle().importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  return subtle().verify({ name: "Ed25519" }, key, sig, message);
}

/**
 * Verify a signed note by `vkey` (required) and report the other signatures, checking the
 * cosignature/v1 ones whose keys are given in `witnessKeys`.
 * → {text, logSigned: true, cosignatures: [{name, verified, time}]}; throws when the log's
 * own signature is missing or wrong.
 */
export async function verifyNote(note, vkey, witnessKeys = []) {
  const { text, signatures } = splitNote(note);
  const log = await parseVkey(vkey);
  const witnesses = [];
  for (const w of witnessKeys) witnesses.push(await parseVkey(w));
  let logSigned = false;
  const cosignatures = [];
  for (const s of signatures) {
    if (s.name === log.name && equal(s.keyId, log.id)) {
      if (!(await ed25519Verify(log.pub, s.sig, enc.encode(text)))) throw new VerifyError("检查点签名无效");
      logSigned = true;
      continue;
    }
    const w = witnesses.find((k) => k.name === s.name && equal(k.id, s.keyId));
    let verified = false;
    let time = null;
    if (w && s.sig.length === 72) {
      const ts = new DataView(s.sig.buffer, s.sig.byteOffset, 8).getBigUint64(0);
      time = Number(ts);
      verified = await ed25519Verify(w.pub, s.sig.slice(8), enc.encode(`cosignature/v1\ntime ${ts}\n${text}`));
    }
    cosignatures.push({ name: s.name, verified, time });
  }
  if (!logSigned) throw new VerifyError("检查点没有该日志公钥的签名");
  return { text, logSigned, cosignatures };
}

/** C2SP tlog-proof v1 → {index, proof: [Uint8Array], checkpoint: string}. */
export function parseTlogProof(text) {
  const lines = text.split("\n");
  if (lines[0] !== "c2sp.org/tlog-proof@v1") throw new VerifyError("不是 tlog-proof v1 证明");
  let i = 1;
  if (lines[i] && lines[i].startsWith("extra ")) i += 1;
  const m = /^index ([0-9]+)$/.exec(lines[i] || "");
  if (!m) throw new VerifyError("证明缺少条目序号");
  i += 1;
  const proof = [];
  while (i < lines.length && lines[i] !== "") {
    proof.push(b64decode(lines[i]));
    i += 1;
  }
  if (i >= lines.length) throw new VerifyError("证明缺少检查点");
  return { index: Number(m[1]), proof, checkpoint: lines.slice(i + 1).join("\n") };
}

/**
 * The whole check of one entry: the checkpoint is signed by the pinned log key, and the
 * entry's bytes hash, through the proof, to that checkpoint's root.
 * → {ok: true, index, size, cosignatures} or {ok: false, reason}.
 */
export async function verifyEntry({ entry, tlogProof, vkey, witnessKeys = [], index }) {
  try {
    const p = parseTlogProof(tlogProof);
    if (index !== undefined && p.index !== index) throw new VerifyError("证明的条目序号与所查条目不符");
    const note = await verifyNote(p.checkpoint, vkey, witnessKeys);
    const cp = parseCheckpoint(note.text);
    const log = await parseVkey(vkey);
    if (cp.origin !== log.name) throw new VerifyError("检查点来源与日志公钥名称不符");
    const leaf = await leafHash(await leafOfEntry(entry));
    await verifyInclusion({ index: p.index, size: cp.size, leaf, proof: p.proof, root: cp.root });
    return { ok: true, index: p.index, size: cp.size, root: hex(cp.root), cosignatures: note.cosignatures };
  } catch (err) {
    if (err instanceof VerifyError) return { ok: false, reason: err.message };
    return { ok: false, reason: "无法验证" };
  }
}
