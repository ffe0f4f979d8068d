// node --test: registering a session (evalsvc/web/registration.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRegistration, parsePastedBids, usccProblem, yuanToFen } from "../../evalsvc/web/registration.js";

// Valid codes made by evalsvc.ids.uscc_check_char (the demo's bidders).
const VALID = ["91310115MA1K3P7Q27", "91320505MA1XY8K4L6", "91330106MA2H9TQ3WY"];

test("GB 32100 check characters agree with evalsvc.ids", () => {
  for (const code of VALID) assert.equal(usccProblem(code), null, code);
  assert.match(usccProblem("91310115MA1K3P7Q28"), /校验位不对（应为 7）/);
  assert.match(usccProblem("91310115MA1K3P7Q2"), /18 位/);
  assert.match(usccProblem("91310115MA1K3P7QI7"), /不允许的字符 I/);
});

test("prices are exact fen", () => {
  assert.equal(yuanToFen("12860000"), 1286000000);
  assert.equal(yuanToFen("0.1"), 10);
  assert.equal(yuanToFen("19.99"), 1999);
});

const form = () => ({
  title: "项目", tenderer: "招标人", method: "weighted_scoring",
  tender_number: "CSJ-2026-ZHSW-0007", tenderer_uscc: "11310000mb2f3e4d5c",
  primary: { id: "sh-ggzy", name: "上海市公共资源交易中心", region: "SH", city: "上海", seats: "3" },
  secondary: [{ id: "js-suzhou", name: "苏州", region: "JS", city: "苏州", seats: "2" }],
  bids: [{ id: "B1", bidder: "甲公司", uscc: VALID[0].toLowerCase(), price: "12,860,000.00" }],
  criteria: [{ id: "Q1", name: "资格", category: "qualification", max_points: "" },
    { id: "T1", name: "技术方案", category: "technical", max_points: "60" },
    { id: "P1", name: "投标报价", category: "price", max_points: "40" }],
});

test("a good form gives the server's document", () => {
  const { doc, errors } = buildRegistration(form());
  assert.deepEqual(errors, []);
  assert.equal(doc.tender_number, "CSJ-2026-ZHSW-0007");
  assert.equal(doc.tenderer_uscc, "11310000MB2F3E4D5C");
  assert.deepEqual(doc.bids, [{ id: "B1", bidder: "甲公司", uscc: VALID[0], price_fen: 1286000000 }]);
  assert.deepEqual(doc.criteria[0], { id: "Q1", name: "资格", category: "qualification" });
  assert.deepEqual(doc.criteria[2], { id: "P1", name: "投标报价", category: "price", max_points: "40", formula: "lowest_price_ratio" });
  assert.equal(doc.secondary_venues[0].seats, 2);
});

test("every bad field is named in Chinese", () => {
  const f = form();
  f.title = " ";
  f.tender_number = "CSJ 2026";
  f.tenderer_uscc = "11310000MB2F3E4D5A";
  f.secondary[0].seats = "0";
  f.secondary[0].id = "sh-ggzy";
  f.bids.push({ id: "B1", bidder: "", uscc: VALID[1].slice(0, 17) + "0", price: "1e6" });
  f.criteria[1].max_points = "1e1";
  const { errors } = buildRegistration(f);
  assert.deepEqual(errors.map((e) => `${e.label}：${e.message}`), [
    "项目名称：请填写",
    "招标项目编号：应为 1 到 64 个字符（字母、数字、汉字及 - _ . / # 括号），不含空格",
    "招标人统一社会信用代码：校验位不对（应为 C），请核对",
    "副场 1 席位数：应为正整数",
    "副场 1 编号：与其他场地编号重复",
    "投标 2 编号：编号重复",
    "投标 2 投标人：请填写",
    "投标 2 统一社会信用代码：校验位不对（应为 6），请核对",
    "投标 2 报价：请填写金额（元），最多两位小数，例如 12860000.00",
    "评分项 2 分值：应为大于 0 的数字，例如 40 或 7.5",
  ]);
});

test("the committee must be five or more, an odd number", () => {
  const f = form();
  f.secondary[0].seats = "1";
  const { errors } = buildRegistration(f);
  assert.deepEqual(errors.map((e) => e.field), ["primary_venue/seats"]);
  assert.match(errors[0].message, /5 人以上的单数.*当前共 4 席/);
});

test("bids pasted from a spreadsheet, header skipped", () => {
  const rows = parsePastedBids("编号\t投标人\t统一社会信用代码\t报价（元）\nB1\t甲公司\t91310115ma1k3p7q27\t¥12,860,000.00\n\nB2,乙公司,91320505MA1XY8K4L6,11985000\n");
  assert.deepEqual(rows, [
    { id: "B1", bidder: "甲公司", uscc: "91310115MA1K3P7Q27", price: "12860000.00" },
    { id: "B2", bidder: "乙公司", uscc: "91320505MA1XY8K4L6", price: "11985000" },
  ]);
});

test("stages, 暗标, compliance criteria and the average-benchmark formula reach the document", () => {
  const f = form();
  f.stages = "split";
  f.anonymous = true;
  f.price_formula = "average_benchmark";
  f.benchmark = { factor: "0.97", deduct_above: "1", deduct_below: "0.5", floor: "", drop_extremes: true };
  f.criteria.push({ id: "K1", name: "投标有效期", category: "compliance", max_points: "" });
  const { doc, errors } = buildRegistration(f);
  assert.deepEqual(errors, []);
  assert.equal(doc.stages, "split");
  assert.equal(doc.anonymous, true);
  assert.deepEqual(doc.rules, { price_formula: "average_benchmark", average_benchmark: {
    factor: "0.97", deduct_above: "1", deduct_below: "0.5", drop_extremes: true } });
  assert.equal(doc.criteria[2].formula, "average_benchmark");
  assert.deepEqual(doc.criteria[3], { id: "K1", name: "投标有效期", category: "compliance" });
  // The defaults leave the document as it was.
  const plain = buildRegistration(form()).doc;
  assert.equal("stages" in plain || "anonymous" in plain || "rules" in plain, false);
});

test("暗标 without two stages, two stages without weighted scoring, a bad coefficient: named", () => {
  const f = form();
  f.anonymous = true;
  f.price_formula = "average_benchmark";
  f.benchmark = { factor: "九七折" };
  let { errors } = buildRegistration(f);
  assert.deepEqual(errors.map((e) => `${e.label}：${e.message}`), [
    "暗标：暗标须分技术、商务两阶段评审（先在“评审阶段”中选择）",
    "基准价系数：应为数字，例如 0.97 或 1",
  ]);
  const g = form();
  g.method = "lowest_evaluated_price";
  g.stages = "split";
  ({ errors } = buildRegistration(g));
  assert.deepEqual(errors.map((e) => `${e.label}：${e.message}`), ["评审阶段：分技术、商务两阶段评审只适用于综合评估法"]);
});

test("guidance: optional, trimmed, at most 1000 characters, no bidder under 暗标", () => {
  const f = form();
  f.criteria[1].guidance = "  方案完整的得 50 分\n每缺一项扣 5 分 ";
  let { doc, errors } = buildRegistration(f);
  assert.deepEqual(errors, []);
  assert.equal(doc.criteria[1].guidance, "方案完整的得 50 分\n每缺一项扣 5 分");
  assert.equal("guidance" in doc.criteria[0], false); // none typed: none sent
  f.criteria[1].guidance = "评".repeat(1001);
  ({ errors } = buildRegistration(f));
  assert.deepEqual(errors.map((e) => [e.field, e.label, e.message]),
    [["criteria/1/guidance", "评分项 2 评分指引", "最多 1000 个字符，当前 1001 个"]]);
  // 1000 characters outside the BMP are 1000 for the server too, not 2000.
  f.criteria[1].guidance = "𠀀".repeat(1000);
  assert.deepEqual(buildRegistration(f).errors, []);
  f.criteria[1].guidance = "参照甲公司的方案";
  assert.deepEqual(buildRegistration(f).errors, []); // not 暗标: the operator's business
  Object.assign(f, { stages: "split", anonymous: true });
  ({ errors } = buildRegistration(f));
  assert.deepEqual(errors.map((e) => [e.field, e.message]),
    [["criteria/1/guidance", "暗标项目的评分指引不得出现投标人名称或代码（出现了：甲公司）"]]);
  f.criteria[1].guidance = `代码 ${VALID[0]} 的方案`;
  assert.equal(buildRegistration(f).errors[0].field, "criteria/1/guidance");
});
