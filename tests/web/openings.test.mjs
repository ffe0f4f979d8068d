// node --test: the pool-opening form's rules (evalsvc/web/openings.js) and the feed line of
// a pool.field_opened event (evalsvc/web/i18n.js), full and masked, and a split view in the
// alerts table (its subject).
import assert from "node:assert/strict";
import { test } from "node:test";
import { openingProblems } from "../../evalsvc/web/openings.js";
import { alertSubject, describeEvent } from "../../evalsvc/web/i18n.js";

test("an opening needs an expert id, a masked field and a reason", () => {
  assert.deepEqual(openingProblems({ expert: "ESH000363", field: "name", reason: "核查" }), {});
  const all = openingProblems({ expert: " ", field: "specialties", reason: "  " });
  assert.deepEqual(Object.keys(all).sort(), ["expert", "field", "reason"]);
  assert.match(all.reason, /开启理由/);
  assert.ok(openingProblems({ expert: "x".repeat(65), field: "title", reason: "r" }).expert);
  assert.ok(openingProblems({ expert: "E", field: "title", reason: "r".repeat(501) }).reason);
});

test("the feed names the expert, the field and the reason to a supervisor, nothing to others", () => {
  const e = { event: "pool.field_opened", payload: { expert_id: "ESH000363", field: "resident_id", reason: "身份核验" } };
  assert.equal(describeEvent(null, e), "开启专家库遮蔽字段：专家 ESH000363 的身份证号（理由：身份核验）");
  assert.equal(describeEvent(null, { event: "pool.field_opened", payload: { masked: true } }),
    "开启专家库遮蔽字段（仅监督可见）");
});

test("a split view's row names the venue that caught it", () => {
  const a = { rule: "split_view", subject: { venues: ["js-suzhou"] }, evidence: { venue_name: "苏州" } };
  assert.equal(alertSubject(a), "场地 苏州");
  assert.equal(alertSubject({ subject: { venues: ["js-suzhou"] } }), "场地 js-suzhou");
});
