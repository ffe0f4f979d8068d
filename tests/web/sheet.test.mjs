// node --test: the score sheet's pure rules (evalsvc/web/sheet.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { addDecimals, buildSheet, checkPoints, runningTotals, valuesFromSheet } from "../../evalsvc/web/sheet.js";

const session = {
  method: "weighted_scoring",
  rules: { step: "0.5" },
  bids: [{ id: "B1", bidder: "甲" }, { id: "B2", bidder: "乙" }, { id: "B3", bidder: "丙" }],
  qualified: ["B1", "B3"],
  criteria: [
    { id: "Q1", name: "资质", category: "qualification", max_points: "0" },
    { id: "T1", name: "技术方案", category: "technical", max_points: "40" },
    { id: "C1", name: "商务条款响应", category: "commercial", max_points: "10" },
    { id: "P1", name: "投标报价", category: "price", max_points: "40" },
  ],
};

test("a score is digits with an optional fraction; 1e1 and friends are refused", () => {
  for (const bad of ["1e1", "1E+1", "0x10", "+3", "NaN", "Infinity", "3,5", "35.", ".5", "三十"]) {
    assert.ok(checkPoints(bad, { max: "40", step: "0.5" }).error, bad);
  }
  assert.deepEqual(checkPoints(" 35.50 ", { max: "40", step: "0.5" }), { value: "35.5" });
  assert.deepEqual(checkPoints("40", { max: "40", step: "0.5" }), { value: "40" });
  assert.match(checkPoints("", { max: "40", step: "0.5" }).error, /请填写/);
  assert.match(checkPoints("40.5", { max: "40", step: "0.5" }).error, /满分 40/);
  assert.match(checkPoints("-1", { max: "40", step: "0.5" }).error, /不能小于 0/);
  assert.match(checkPoints("35.3", { max: "40", step: "0.5" }).error, /0.5 的整数倍/);
});

test("every bad field is reported with its Chinese name, in screen order", () => {
  const values = { B1: { T1: "45", C1: "1e1" }, B3: { T1: "", C1: "8" } };
  const { errors } = buildSheet(session, "scoring", values);
  assert.deepEqual(errors.map((e) => e.field), ["bids/B1/T1", "bids/B1/C1", "bids/B3/T1"]);
  assert.deepEqual(errors.map((e) => e.label), ["B1 技术方案", "B1 商务条款响应", "B3 技术方案"]);
});

test("a valid sheet covers the qualified bids only, points as decimal strings", () => {
  const { sheet, errors } = buildSheet(session, "scoring", { B1: { T1: "34", C1: "8.5" }, B3: { T1: "36", C1: "9" } });
  assert.deepEqual(errors, []);
  assert.deepEqual(sheet, { stage: "scoring", bids: { B1: { T1: "34", C1: "8.5" }, B3: { T1: "36", C1: "9" } } });
  const q = buildSheet(session, "qualification", { B2: { Q1: false } }).sheet;
  assert.deepEqual(q.bids, { B1: { Q1: true }, B2: { Q1: false }, B3: { Q1: true } });
});

test("running totals are exact and ignore what is not yet valid", () => {
  assert.equal(addDecimals(["0.1", "0.2"]), "0.3");
  assert.equal(addDecimals(["34", "8.5", "7.5"]), "50");
  const t = runningTotals(session, "scoring", { B1: { T1: "34.5", C1: "abc" }, B3: { T1: "36", C1: "9.5" } });
  assert.deepEqual(t.B1, { total: "34.5", filled: 1, of: 2, max: "50" });
  assert.deepEqual(t.B3, { total: "45.5", filled: 2, of: 2, max: "50" });
});

test("a stored sheet comes back as the strings a person typed", () => {
  assert.deepEqual(valuesFromSheet({ bids: { B1: { T1: "34.50", responsive: true, adjustment_fen: -120050 } } }),
    { B1: { T1: "34.50", responsive: true, adjustment: "-1200.5" } });
});

test("lowest evaluated price: responsiveness and an adjustment in yuan, exact fen", () => {
  const lep = { ...session, method: "lowest_evaluated_price", qualified: null };
  const { sheet, errors } = buildSheet(lep, "scoring", {
    B1: { responsive: true, adjustment: "-1200.50" }, B2: { responsive: false, adjustment: "" },
    B3: { responsive: true, adjustment: "1e3" },
  });
  assert.deepEqual(sheet.bids.B1, { responsive: true, adjustment_fen: -120050 });
  assert.deepEqual(sheet.bids.B2, { responsive: false, adjustment_fen: 0 });
  assert.deepEqual(errors.map((e) => [e.field, e.label]), [["bids/B3/adjustment_fen", "B3 价格调整"]]);
});

// docs/scoring.md "Stages": compliance with a reason per fail, split parts, 暗标 codes.
const staged = {
  ...session,
  stages: "split",
  qualified: ["B1", "B3"],
  rejections: [{ bid_id: "B2", stage: "qualification", reasons: [["Q1", "营业执照过期"]] }],
  criteria: [...session.criteria, { id: "K1", name: "投标有效期", category: "compliance", max_points: "0" }],
};

test("a fail without its reason is refused by field; with it the sheet carries reasons", () => {
  const bad = buildSheet(staged, "compliance", { B1: { K1: true }, B3: { K1: false } });
  assert.deepEqual(bad.errors.map((e) => [e.field, e.label, e.message]),
    [["reasons/B3/K1", "B3 投标有效期的不通过理由", "不通过时须填写理由"]]);
  // Compliance reviews the bids qualification left in (B2 was rejected there).
  const ok = buildSheet(staged, "compliance", { B1: { K1: true }, B3: { K1: false, "K1#reason": " 不足90天 " } });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.sheet, { stage: "compliance", bids: { B1: { K1: true }, B3: { K1: false } },
    reasons: { B3: { K1: "不足90天" } } });
  assert.deepEqual(valuesFromSheet(ok.sheet).B3, { K1: false, "K1#reason": "不足90天" });
  // All passes: no reasons key (the bytes a sheet of passes always had).
  assert.deepEqual(Object.keys(buildSheet(staged, "compliance", {}).sheet), ["stage", "bids"]);
});

test("split stages score their own part; 暗标 sheets are keyed by code", () => {
  const tech = buildSheet(staged, "technical", { B1: { T1: "30" }, B3: { T1: "31" } });
  assert.deepEqual(tech, { sheet: { stage: "technical", bids: { B1: { T1: "30" }, B3: { T1: "31" } } }, errors: [] });
  const anon = { ...staged, anonymised: true, bids: [{ code: "A01" }, { code: "A02" }, { code: "A03" }], qualified: ["A01", "A03"] };
  const coded = buildSheet(anon, "technical", { A01: { T1: "30" }, A03: { T1: "35.5" } });
  assert.deepEqual(coded.sheet.bids, { A01: { T1: "30" }, A03: { T1: "35.5" } });
  assert.deepEqual(runningTotals(anon, "technical", { A01: { T1: "30" } }).A01, { total: "30", filled: 1, of: 1, max: "40" });
});

test("the committee table's stage columns follow the session's plan", async () => {
  const { stagePlan } = await import("../../evalsvc/web/sheet.js");
  const crit = (category) => ({ id: category, category });
  assert.deepEqual(stagePlan({ criteria: [crit("qualification"), crit("technical")] }), ["qualification", "scoring"]);
  assert.deepEqual(stagePlan({ stages: "split", criteria: [crit("compliance"), crit("technical")] }),
    ["qualification", "compliance", "technical", "commercial"]);
});
