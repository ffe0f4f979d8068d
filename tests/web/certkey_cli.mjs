// Driven by tests/web/test_certkey.py: signs with evalsvc/web/certkey.js (sm-crypto for
// SM2, Node's WebCrypto for ECDSA/RSA) and verifies SM2 signatures made by the server's
// Python code. Reads one JSON request on stdin, writes one JSON answer on stdout.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { loadSigner, signSheet, b64encode } from "../../evalsvc/web/certkey.js";
import sm2 from "../../evalsvc/web/vendor/sm2.js";

const req = JSON.parse(readFileSync(0, "utf8"));
const out = {};
if (req.op === "sign") {
  const data = Uint8Array.from(Buffer.from(req.data_b64, "base64"));
  for (const [name, pem] of Object.entries(req.files)) {
    try {
      const signer = await loadSigner(pem, webcrypto.subtle);
      out[name] = { algorithm: signer.algorithm, signature: b64encode(await signer.sign(data)),
        certificate: signer.certificate, sheet: await signSheet(signer, req.sheet) };
    } catch (err) {
      out[name] = { error: err.code || String(err) };
    }
  }
} else if (req.op === "verify-sm2") {
  const data = Array.from(Buffer.from(req.data_b64, "base64"));
  out.valid = sm2.doVerifySignature(data, req.signature_hex, req.public_hex,
    { hash: true, der: true, userId: "1234567812345678" });
}
process.stdout.write(JSON.stringify(out));
