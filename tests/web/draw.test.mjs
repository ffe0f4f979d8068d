// node --test: the draw commitment made in the browser (evalsvc/web/draw.js) is the one
// evalsvc.experts.seed.commitment_digest makes (fixtures/audit.json, make_fixtures.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { commitmentDigest } from "../../evalsvc/web/draw.js";

const fx = JSON.parse(readFileSync(new URL("./fixtures/audit.json", import.meta.url), "utf-8"));

test("the commitment to a secret matches the Python ceremony's", async () => {
  const secret = Uint8Array.from(Buffer.from(fx.draw.secret, "hex"));
  assert.equal(await commitmentDigest(secret, fx.draw.party, fx.draw.binding), fx.draw.digest);
  assert.notEqual(await commitmentDigest(secret, "sh-ggzy", fx.draw.binding), fx.draw.digest);
  assert.notEqual(await commitmentDigest(secret, fx.draw.party, "s-fixture#2"), fx.draw.digest);
});
