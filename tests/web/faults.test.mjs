// node --test: how the workspaces word the venue-link faults (evalsvc/web/i18n.js;
// docs/scoring.md "Faults by rule"): the feed lines and the fault banner.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeEvent, faultLines, stateLabel } from "../../evalsvc/web/i18n.js";

const venues = [{ id: "sh-ggzy", city: "上海", primary: true }, { id: "js-suzhou", city: "苏州", primary: false }];
const rule = { name: "link_lost_pause_minutes", value: "10", seconds: 600 };

test("the pause by rule names the venue and the rule, in Chinese", () => {
  const s = { venues };
  assert.equal(describeEvent(s, { event: "session.state_changed", payload: {
    from: "evaluating/scoring", to: "paused", reason: "venue_link_lost", venue_id: "js-suzhou", rule } }),
  "状态变更：评审中 · 详细评审（评分） → 已暂停（副场链路中断 · 苏州（副场） · 依据规则：链路中断满 10 分钟即暂停）");
  // An operator's own reason is shown as typed.
  assert.equal(describeEvent(s, { event: "session.state_changed", payload: { from: "evaluating/scoring", to: "paused", reason: "停电" } }),
    "状态变更：评审中 · 详细评审（评分） → 已暂停（停电）");
  assert.equal(describeEvent(s, { event: "venue.link_lost", payload: { venue_id: "js-suzhou", since: 1 } }), "副场链路中断：苏州（副场）");
  assert.equal(describeEvent(s, { event: "committee.reformed", payload: { venues: ["js-suzhou"], seats: [3, 4],
    rule: { name: "resume_deadline_minutes", value: "120", seconds: 7200 } } }),
  "重新组建评标委员会：苏州（副场）的第 4 席、第 5 席由补抽专家替补 · 依据规则：暂停后 120 分钟内未恢复");
  assert.equal(describeEvent(s, { event: "committee.reformed", payload: { venues: ["js-suzhou"], seats: [3, 4],
    moved: [{ seat: 3, from: "js-suzhou", to: "sh-ggzy" }, { seat: 4, from: "js-suzhou", to: "sh-ggzy" }],
    rule: { name: "resume_deadline_minutes", value: "120", seconds: 7200 } } }),
  "重新组建评标委员会：苏州（副场）的第 4 席、第 5 席移至上海（主场），由补抽专家替补 · 依据规则：暂停后 120 分钟内未恢复");
});

test("the banner says what is wrong and what happens next, and nothing when all is well", () => {
  assert.deepEqual(faultLines({ venues, state: "evaluating", links_lost: [], fault: null }), []);
  const paused = { venues, state: "paused", paused: { reason: "venue_link_lost", from_state: "evaluating" },
    links_lost: [["js-suzhou", 1796000000]], fault: { venue_id: "js-suzhou", paused_at: 1796000600, reformed: false } };
  const lines = faultLines(paused);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^副场链路中断：苏州（副场）自 .* 起无连接/);
  assert.match(lines[1], /^因副场链路中断已暂停（苏州（副场））/);
  const suspended = { venues, state: "suspended", links_lost: [], fault: { venue_id: "js-suzhou", paused_at: 1, reformed: true } };
  assert.deepEqual(faultLines(suspended), ["评标已中止：副场链路中断超过最长时限，须另行择期评标；本项目只能终止。"]);
  assert.equal(stateLabel(suspended), "已中止（待另行择期）");
});
