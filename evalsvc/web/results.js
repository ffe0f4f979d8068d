// The committee's result (aggregation or report), the same table for every role.

import { el } from "./dom.js";
import { FORMULA_ZH, seatLabel, yuan } from "./i18n.js";

/** A table of the ranking; `result` is an aggregation document (GET …/aggregation). */
export function resultTable(result, caption) {
  const lep = result.method === "lowest_evaluated_price";
  const head = el("tr", {}, el("th", { scope: "col" }, "名次"), el("th", { scope: "col" }, "投标人"),
    ...(lep ? [el("th", { scope: "col", class: "num" }, "评审价（元）")] : [
      el("th", { scope: "col", class: "num" }, "技术"), el("th", { scope: "col", class: "num" }, "商务"),
      el("th", { scope: "col", class: "num" }, "价格"), el("th", { scope: "col", class: "num" }, "总分")]),
    el("th", { scope: "col", class: "num" }, "报价（元）"));
  const rows = result.ranking.map((r) => el("tr", {},
    el("td", {}, String(r.rank), r.tie_unresolved ? el("span", { class: "flag" }, " 并列") : ""),
    el("td", { class: "wrap" }, `${r.bid_id} ${r.bidder}`),
    ...(lep ? [el("td", { class: "num" }, yuan(r.evaluated_price_fen))] : [
      el("td", { class: "num" }, r.technical), el("td", { class: "num" }, r.commercial),
      el("td", { class: "num" }, r.price_score), el("td", { class: "num" }, el("strong", {}, r.total))]),
    el("td", { class: "num" }, yuan(r.price_fen))));
  // How the price score was computed, where the aggregation says (price_basis) or the
  // rules name the formula.
  const basis = result.price_basis || [];
  const formula = lep ? `评标方法：${FORMULA_ZH.lowest_evaluated_price}` : basis.length
    ? `价格分：${basis.map((b) => `${FORMULA_ZH[b.formula] || "其他公式"}，评标基准价 ${yuan(b.benchmark_fen)} 元`).join("；")}`
    : "";
  return el("div", {}, el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "可横向滚动的表格" },
    el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, rows))),
  formula ? el("p", { class: "muted price-basis" }, formula) : "");
}

/** Deviations, explanations and dissents as sentences. */
export function notes(result, { explanations = [], dissents = [], share = null } = {}) {
  // The session document lists [seat, bid, text] / [seat, text]; the aggregation and the
  // report list objects, possibly as of an earlier moment. Both are read, once each.
  const obj = (x, keys) => (Array.isArray(x) ? Object.fromEntries(keys.map((k, i) => [k, x[i]])) : x);
  const merge = (a, b, keys, same) => {
    const out = [];
    for (const x of [...(a || []), ...(b || [])].map((y) => obj(y, keys))) {
      if (!out.some((y) => same(x, y))) out.push(x);
    }
    return out;
  };
  explanations = merge(result.explanations, explanations, ["seat", "bid_id", "text"],
    (x, y) => x.seat === y.seat && x.bid_id === y.bid_id);
  dissents = merge(result.dissents, dissents, ["seat", "text"], (x, y) => x.seat === y.seat && x.text === y.text);
  const box = el("div", { class: "notes" });
  const devs = result.deviations || [];
  if (devs.length) {
    box.append(el("h3", {}, `偏离度提示（超过委员会平均值 ±${share !== null ? Number(share) * 100 : 30}%）`));
    const list = el("ul");
    for (const d of devs) {
      const ex = explanations.find((e) => e.seat === d.seat && e.bid_id === d.bid_id);
      list.append(el("li", {}, `${seatLabel(d.seat)}对 ${d.bid_id}：${d.expert_total} 分，委员会平均 ${d.committee_mean} 分` +
        `（偏离 ${(Number(d.share) * 100).toFixed(1)}%）`, ex ? ` — 说明：${ex.text}` : el("span", { class: "flag" }, " — 待说明")));
    }
    box.append(list);
  }
  if (dissents.length) {
    box.append(el("h3", {}, "不同意见"));
    box.append(el("ul", {}, dissents.map((d) => el("li", {}, `${seatLabel(d.seat)}：${d.text}`))));
  }
  return box;
}

/** The committee's result card, shown from the aggregation to the seal: an updater that
 *  reads the aggregation again only when the session moved (a new `last_seq`). */
export function resultCard(card, get, headingId) {
  let shownAt = null;
  return async (s) => {
    const state = s.state === "paused" ? s.paused.from_state : s.state;
    card.hidden = !["aggregating", "reporting", "sealed"].includes(state);
    if (card.hidden || shownAt === s.last_seq) return;
    shownAt = s.last_seq;
    const agg = await get(`/api/sessions/${s.id}/aggregation`);
    card.replaceChildren(el("h2", { id: headingId }, "评审结果"), resultTable(agg, "委员会汇总结果"),
      notes(agg, { explanations: s.explanations, dissents: s.dissents, share: s.rules.deviation_share }));
  };
}
