// node --test: the incident form's rules (evalsvc/web/incidents.js) and the feed line of an
// incident (evalsvc/web/i18n.js), full and masked.
import assert from "node:assert/strict";
import { test } from "node:test";
import { localInput, recording, whenProblem } from "../../evalsvc/web/incidents.js";
import { describeEvent } from "../../evalsvc/web/i18n.js";

test("incidents are recorded from the draw up to the report, and while paused from one of those", () => {
  for (const state of ["drawing", "ready", "checking_in", "evaluating", "aggregating"]) assert.equal(recording({ state }), true, state);
  for (const state of ["draft", "reporting", "sealed", "aborted"]) assert.equal(recording({ state }), false, state);
  assert.equal(recording({ state: "paused", paused: { from_state: "evaluating" } }), true);
  assert.equal(recording({ state: "paused", paused: { from_state: "reporting" } }), false);
});

test("the time of an incident is required and not in the future", () => {
  const now = new Date(2026, 11, 6, 14, 3);
  assert.equal(localInput(now), "2026-12-06T14:03");
  assert.equal(whenProblem("2026-12-06T14:03", now), "");
  assert.equal(whenProblem("", now), "请填写发生时间");
  assert.equal(whenProblem("2026-12-06T15:03", now), "发生时间不能晚于现在");
  assert.equal(whenProblem("not a time", now), "时间格式不正确");
});

test("the feed shows an incident to those who may read it, and that one was recorded to the others", () => {
  const s = { venues: [{ id: "sh-ggzy", city: "上海", primary: true }, { id: "js-suzhou", city: "苏州", primary: false }] };
  assert.equal(describeEvent(s, { event: "incident.recorded", payload: { venue_id: "js-suzhou", category: "device", text: "接听电话" } }),
    "现场监督记录：苏州（副场） · 通讯工具 · 接听电话");
  assert.equal(describeEvent(s, { event: "incident.recorded", payload: { masked: true } }),
    "现场监督记录（仅监督与该场地现场监督可见）");
});
