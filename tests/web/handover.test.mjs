// node --test: the attachment digest check of the clarification answer (evalsvc/web/handover.js)
// and the feed lines of clarification and handover (evalsvc/web/i18n.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256Problem } from "../../evalsvc/web/handover.js";
import { describeEvent } from "../../evalsvc/web/i18n.js";

test("an attachment digest is 64 hexadecimal digits, either case", () => {
  assert.equal(sha256Problem("ab".repeat(32)), "");
  assert.equal(sha256Problem(` ${"AB".repeat(32)} `), "");
  assert.equal(sha256Problem(""), "请填写答复附件的 SHA-256");
  assert.match(sha256Problem("ab".repeat(31)), /64 位十六进制.*当前 62 位$/);
  assert.match(sha256Problem(`${"ab".repeat(31)}zz`), /当前 64 位，含其他字符/);
});

test("the feed names the venue by city and the items handed over", () => {
  const s = { venues: [{ id: "sh-ggzy", city: "上海", primary: true }, { id: "js-suzhou", city: "苏州", primary: false }] };
  assert.equal(describeEvent(s, { event: "handover.acknowledged", payload: { venue_id: "js-suzhou", items: ["承诺书", "回避声明"] } }),
    "主场确认接收移交：苏州（副场） · 承诺书、回避声明");
  assert.equal(describeEvent(s, { event: "handover.overdue", payload: { venues: [{ venue_id: "js-suzhou", missing: "handover" }] } }),
    "移交逾期预警：苏州（副场）（未登记移交）");
  assert.equal(describeEvent(s, { event: "handover.overdue", payload: { masked: true } }), "移交逾期预警（不可见）");
  assert.equal(describeEvent(s, { event: "clarification.requested", payload: { id: 1, bid_id: "B2", bidder: "乙公司", question: "工期？" } }),
    "要求投标人澄清：第 1 项 · B2 乙公司 · 工期？");
});
