// The score sheet, pure: which fields a stage has, what a typed value means, running
// totals. No DOM, no network; tested with `node --test` (tests/web/sheet.test.mjs).
// Points are exact decimals sent as strings ("35.5"): no binary floats anywhere.

import { fieldLabel } from "./i18n.js";

// What a person may type: digits with an optional fraction — not "1e1", not "+3", not "0x1".
const PLAIN = /^[0-9]+(\.[0-9]+)?$/;
const SIGNED = /^-?[0-9]+(\.[0-9]{1,2})?$/;

/** Decimal string → [BigInt, scale]. Assumes PLAIN/SIGNED already matched. */
function toScaled(text) {
  const neg = text.startsWith("-");
  const body = neg ? text.slice(1) : text;
  const [int, frac = ""] = body.split(".");
  const v = BigInt(int + frac) * (neg ? -1n : 1n);
  return [v, frac.length];
}

function align(a, b) {
  const [av, as] = a;
  const [bv, bs] = b;
  const s = Math.max(as, bs);
  return [av * 10n ** BigInt(s - as), bv * 10n ** BigInt(s - bs), s];
}

function fromScaled(v, scale) {
  const neg = v < 0n;
  let digits = (neg ? -v : v).toString().padStart(scale + 1, "0");
  let out = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  if (scale) out = out.replace(/\.?0+$/, "");
  digits = out;
  return (neg ? "-" : "") + digits;
}

/** Exact sum of decimal strings ("34" + "8.5" = "42.5"). */
export function addDecimals(values) {
  let acc = [0n, 0];
  for (const t of values) {
    const [a, b, s] = align(acc, toScaled(t));
    acc = [a + b, s];
  }
  return fromScaled(acc[0], acc[1]);
}

// docs/scoring.md "Stages": pass/fail stages (a reason for each fail) and scored ones.
export const REVIEW_STAGES = ["qualification", "compliance"];
const STAGE_CATEGORIES = {
  qualification: ["qualification"], compliance: ["compliance"], scoring: ["technical", "commercial"],
  technical: ["technical"], commercial: ["commercial"],
};

/** Whether a stage's sheet is pass/fail (qualification, compliance). */
export function isReview(stage) {
  return REVIEW_STAGES.includes(stage);
}

/** Whether a stage's sheet gives points (weighted scoring's scoring, technical, commercial). */
export function isScored(session, stage) {
  return !isReview(stage) && session.method === "weighted_scoring";
}

/** The criteria scored in a stage, in the session's order. */
export function stageCriteria(session, stage) {
  if (!isReview(stage) && session.method !== "weighted_scoring") return [];
  const cats = STAGE_CATEGORIES[stage] || [];
  return session.criteria.filter((c) => cats.includes(c.category));
}

/** The key a sheet names a bid by: its id — or, 暗标 (technical stage), its code. */
export function bidKey(b) {
  return b.id ?? b.code;
}

/** The bids an expert reviews in a stage: every bid for qualification, those qualification
 * left in for compliance, the bids that passed both after. */
export function stageBids(session, stage) {
  if (stage === "qualification") return session.bids;
  if (stage === "compliance") {
    const out = new Set((session.rejections || []).filter((r) => r.stage === "qualification").map((r) => r.bid_id));
    return session.bids.filter((b) => !out.has(b.id));
  }
  if (!session.qualified) return session.bids;
  const ok = new Set(session.qualified);
  return session.bids.filter((b) => ok.has(bidKey(b)));
}

/**
 * Check one typed score against its criterion: "" | { error } | { value }.
 * Messages are Chinese and say what was expected.
 */
export function checkPoints(text, { max, step }) {
  const t = String(text ?? "").trim();
  if (t === "") return { error: "请填写分数" };
  if (/^-/.test(t) && PLAIN.test(t.slice(1))) return { error: `不能小于 0（应在 0 到 ${max} 之间）` };
  if (!PLAIN.test(t)) return { error: "请填写数字，例如 35 或 35.5（不接受 1e1 这类写法）" };
  const [v, m] = align(toScaled(t), toScaled(String(max)));
  if (v > m) return { error: `不能超过满分 ${max} 分` };
  if (step) {
    const [v2, st] = align(toScaled(t), toScaled(String(step)));
    if (st > 0n && v2 % st !== 0n) return { error: `应为 ${step} 的整数倍` };
  }
  return { value: fromScaled(...toScaled(t)) };
}

/** A price adjustment in yuan ("-1200.50") → fen, or an error. */
export function checkAdjustment(text) {
  const t = String(text ?? "").trim();
  if (t === "") return { value: 0 };
  if (!SIGNED.test(t)) return { error: "请填写金额（元），最多两位小数，例如 -1200.50" };
  const [v, s] = toScaled(t);
  const fen = v * 10n ** BigInt(2 - s);
  if (fen > 900719925474099n || fen < -900719925474099n) return { error: "金额过大" };
  return { value: Number(fen) };
}

/**
 * Build the sheet document from typed values, checking every field.
 * `values` is {bid: {criterion: text|boolean}}. Returns {sheet, errors: [{field, label, message}]}:
 * every bad field is listed, in the order they appear on the screen.
 */
export function buildSheet(session, stage, values) {
  const bids = {};
  const errors = [];
  const step = session.rules ? session.rules.step : null;
  const reasons = {};
  for (const b of stageBids(session, stage)) {
    const key = bidKey(b);
    const typed = values[key] || {};
    const row = {};
    if (isReview(stage)) {
      // 暂行规定 第20-23条: every fail needs its reason (the server refuses one without).
      for (const c of stageCriteria(session, stage)) {
        row[c.id] = typed[c.id] !== false;
        if (row[c.id]) continue;
        const why = String(typed[`${c.id}#reason`] ?? "").trim();
        const field = `reasons/${key}/${c.id}`;
        if (!why) errors.push({ field, label: fieldLabel(session, field), message: "不通过时须填写理由" });
        else if (why.length > 500) errors.push({ field, label: fieldLabel(session, field), message: "理由最多 500 字" });
        else (reasons[key] = reasons[key] || {})[c.id] = why;
      }
    } else if (session.method === "weighted_scoring") {
      for (const c of stageCriteria(session, stage)) {
        const field = `bids/${key}/${c.id}`;
        const r = checkPoints(typed[c.id], { max: c.max_points, step });
        if (r.error) errors.push({ field, label: fieldLabel(session, field), message: r.error });
        else row[c.id] = r.value;
      }
    } else {
      row.responsive = typed.responsive !== false;
      const field = `bids/${key}/adjustment_fen`;
      const r = checkAdjustment(typed.adjustment);
      if (r.error) errors.push({ field, label: fieldLabel(session, field), message: r.error });
      else row.adjustment_fen = r.value;
    }
    bids[key] = row;
  }
  const sheet = Object.keys(reasons).length ? { stage, bids, reasons } : { stage, bids };
  return { sheet, errors };
}

/** Running total per bid of the valid typed points (invalid or empty fields count 0). */
export function runningTotals(session, stage, values) {
  const out = {};
  const step = session.rules ? session.rules.step : null;
  for (const b of stageBids(session, stage)) {
    const typed = values[bidKey(b)] || {};
    const ok = [];
    let filled = 0;
    const crits = stageCriteria(session, stage);
    for (const c of crits) {
      const r = checkPoints(typed[c.id], { max: c.max_points, step });
      if (r.value !== undefined) {
        ok.push(r.value);
        filled += 1;
      }
    }
    const max = addDecimals(crits.map((c) => String(c.max_points)));
    out[bidKey(b)] = { total: addDecimals(ok), filled, of: crits.length, max };
  }
  return out;
}

/** Typed values from a stored sheet document (strings for points). */
export function valuesFromSheet(sheet) {
  const out = {};
  for (const [bid, row] of Object.entries((sheet && sheet.bids) || {})) {
    out[bid] = {};
    for (const [k, v] of Object.entries(row)) {
      if (k === "adjustment_fen") out[bid].adjustment = fromScaled(BigInt(v), 2);
      else out[bid][k] = typeof v === "boolean" ? v : String(v);
    }
  }
  for (const [bid, row] of Object.entries((sheet && sheet.reasons) || {})) {
    out[bid] = out[bid] || {};
    for (const [k, v] of Object.entries(row)) out[bid][`${k}#reason`] = String(v);
  }
  return out;
}

/**
 * The session's review stages in order (docs/scoring.md "Stages"): qualification, then
 * compliance when it has compliance items, then one scoring stage or, with
 * `stages: "split"`, technical then commercial. The committee table has a column each.
 */
export function stagePlan(s) {
  const plan = ["qualification"];
  if ((s.criteria || []).some((c) => c.category === "compliance")) plan.push("compliance");
  if (s.stages === "split") plan.push("technical", "commercial");
  else plan.push("scoring");
  return plan;
}
