// Clarification (澄清、说明、补正) and handover (交接), docs/scoring.md "Clarification",
// "Handover". One card shared by the workspaces, as forms (never prompt()/confirm()):
// - the leader asks a bidder a written question in evaluating / aggregating;
// - the primary operator records each written answer and its attachment's SHA-256;
// - after the seal each secondary operator confirms every configured item handed over,
//   and the primary operator acknowledges receipt venue by venue;
// - everyone who sees the session sees the clarifications; operators and supervisors
//   see the handover's status.
// The card is rebuilt only when what it shows changes, and keeps what a person typed.

import { confirmDialog, el } from "./dom.js";
import { venueLabel } from "./i18n.js";

/** 64 hexadecimal digits (the server stores them in lower case). */
export const SHA256_RE = /^[0-9a-fA-F]{64}$/;

/** Why an attachment digest is refused, or "" when it is a SHA-256. */
export function sha256Problem(text) {
  const t = String(text || "").trim();
  if (!t) return "请填写答复附件的 SHA-256";
  if (!SHA256_RE.test(t)) return `应为 64 位十六进制数字（0-9、a-f），当前 ${t.length} 位${/[^0-9a-fA-F]/.test(t) ? "，含其他字符" : ""}`;
  return "";
}

const ASKING = ["evaluating", "aggregating"];

function bidName(s, bidId) {
  const b = (s.bids || []).find((x) => x.id === bidId);
  return b && b.bidder ? `${bidId} ${b.bidder}` : bidId;
}

function invalid(node, bad) {
  if (bad) node.setAttribute("aria-invalid", "true");
  else node.removeAttribute("aria-invalid");
}

function fieldError(node, err, message) {
  err.textContent = message;
  err.hidden = !message;
  invalid(node, Boolean(message));
}

/** Rebuilds `card` with `build()`, putting back values and ticks typed into it (by id). */
function keepTyped(card, build) {
  const saved = new Map();
  for (const n of card.querySelectorAll("input[id], textarea[id], select[id]")) {
    saved.set(n.id, n.type === "checkbox" ? n.checked : n.value);
  }
  const focused = document.activeElement && card.contains(document.activeElement) ? document.activeElement.id : "";
  build();
  for (const [id, v] of saved) {
    const n = document.getElementById(id);
    if (!n || !card.contains(n)) continue;
    if (n.type === "checkbox") n.checked = v;
    else if (n.tagName !== "SELECT" || [...n.options].some((o) => o.value === v)) n.value = v;
  }
  if (focused) {
    const n = document.getElementById(focused);
    if (n && card.contains(n)) n.focus();
  }
}

/**
 * The card. `command(body, done)` sends a command and resolves true once acknowledged.
 * `update(s, who)` with who = {leader, primary, secondary, supervisor} (booleans: the
 * viewer is the committee's leader, the primary venue's operator, a secondary venue's
 * operator, a supervisor) and `venue` (the operator's venue).
 */
export function handoverCard({ command }) {
  const card = el("section", { class: "card", id: "handover-card", "aria-labelledby": "ho-h", hidden: true });
  let key = null;

  function clarificationTable(s) {
    const list = s.clarifications || [];
    if (!list.length) return el("p", { class: "muted" }, "尚无澄清。");
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "澄清记录" }, el("table", { id: "clar-table" },
      el("caption", {}, "澄清、说明或补正"),
      el("thead", {}, el("tr", {}, ...["编号", "投标", "问题", "投标人书面答复", "附件 SHA-256"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, list.map((c, i) => el("tr", {},
        el("th", { scope: "row" }, `第 ${i + 1} 项`), el("td", {}, `${c.bid_id} ${c.bidder}`), el("td", {}, c.question),
        el("td", {}, c.answer === null ? el("span", { class: "flag" }, "待答复") : c.answer),
        el("td", {}, c.attachment_sha256 ? el("code", { class: "hash" }, c.attachment_sha256) : "—"))))));
  }

  function askForm(s) {
    const bid = el("select", { id: "clar-bid", "aria-describedby": "clar-bid-err" },
      el("option", { value: "" }, "请选择投标"),
      ...(s.bids || []).map((b) => el("option", { value: b.id }, bidName(s, b.id))));
    const bidErr = el("span", { id: "clar-bid-err", class: "field-error", hidden: true });
    const question = el("textarea", { id: "clar-question", rows: "3", "aria-describedby": "clar-q-hint clar-q-err" });
    const qErr = el("span", { id: "clar-q-err", class: "field-error", hidden: true });
    const form = el("form", { id: "clar-form", novalidate: true },
      el("h3", {}, "组长：要求投标人澄清"),
      el("label", { for: "clar-bid" }, "要求澄清的投标"), bid, bidErr,
      el("label", { for: "clar-question" }, "澄清、说明或补正的问题"),
      el("p", { id: "clar-q-hint", class: "muted" }, "书面提出，限于投标文件中含义不明确、同类问题表述不一致或明显文字和计算错误的内容；不得暗示或诱导投标人，答复不得超出投标文件的范围或改变其实质性内容。"),
      question, qErr,
      el("div", { class: "actions" }, el("button", { type: "submit", class: "secondary" }, "要求投标人澄清")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = question.value.trim();
      fieldError(bid, bidErr, bid.value ? "" : "请选择要求澄清的投标");
      fieldError(question, qErr, text ? "" : "请填写澄清的问题");
      if (!bid.value || !text) {
        (bid.value ? question : bid).focus();
        return;
      }
      const ok = await confirmDialog({ title: "要求投标人澄清？", confirm: "确认要求澄清",
        lines: [`将向 ${bidName(s, bid.value)} 书面提出：${text}`,
          "问题写入审计日志并列入评标报告；主场操作员录入投标人的书面答复。全部澄清答复前不能生成评标报告。"] });
      if (ok && await command({ command: "request_clarification", bid_id: bid.value, question: text }, "已向投标人提出澄清，等待主场录入答复")) {
        const q = document.getElementById("clar-question");
        if (q) q.value = "";
      }
    });
    return form;
  }

  function answerForm(s, c, i) {
    const n = i + 1;
    const answer = el("textarea", { id: `ans-${n}`, rows: "3", "aria-describedby": `ans-${n}-err` });
    const aErr = el("span", { id: `ans-${n}-err`, class: "field-error", hidden: true });
    const sha = el("input", { type: "text", id: `sha-${n}`, autocomplete: "off", spellcheck: "false", inputmode: "latin",
      "aria-describedby": `sha-${n}-hint sha-${n}-err`, class: "hash-input" });
    const sErr = el("span", { id: `sha-${n}-err`, class: "field-error", hidden: true });
    // Checked beside the field as soon as it is left, not only on submit.
    sha.addEventListener("blur", () => {
      if (sha.value.trim()) fieldError(sha, sErr, sha256Problem(sha.value));
    });
    sha.addEventListener("input", () => {
      if (!sErr.hidden && !sha256Problem(sha.value)) fieldError(sha, sErr, "");
    });
    const form = el("form", { id: `ans-form-${n}`, novalidate: true },
      el("fieldset", { class: "bid" }, el("legend", {}, `第 ${n} 项澄清 · ${c.bid_id} ${c.bidder}`),
        el("p", {}, `问题：${c.question}`),
        el("label", { for: `ans-${n}` }, "投标人的书面答复"), answer, aErr,
        el("label", { for: `sha-${n}` }, "答复附件的 SHA-256"),
        el("span", { id: `sha-${n}-hint`, class: "muted" }, "64 位十六进制数字"), sha, sErr,
        el("div", { class: "actions" }, el("button", { type: "submit" }, `录入第 ${n} 项澄清答复`))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = answer.value.trim();
      const digest = sha.value.trim();
      const shaBad = sha256Problem(digest);
      fieldError(answer, aErr, text ? "" : "请填写投标人的书面答复");
      fieldError(sha, sErr, shaBad);
      if (!text || shaBad) {
        (text ? sha : answer).focus();
        return;
      }
      const ok = await confirmDialog({ title: `录入第 ${n} 项澄清答复？`, confirm: "确认录入",
        lines: [`${c.bidder}对“${c.question}”的书面答复：${text}`, `附件 SHA-256：${digest.toLowerCase()}`,
          "录入后不能修改；答复和附件摘要写入审计日志并列入评标报告。"] });
      if (ok) await command({ command: "record_clarification_answer", id: n, answer: text, attachment_sha256: digest }, `已录入第 ${n} 项澄清答复`);
    });
    return form;
  }

  function handoverTable(s) {
    const rows = s.venues.filter((v) => !v.primary).map((v) => {
      const h = (s.handovers || []).find((x) => x.venue_id === v.id);
      const recorded = h && h.recorded_at;
      return el("tr", {}, el("th", { scope: "row" }, venueLabel(s, v.id)),
        el("td", {}, recorded ? `已登记：${h.items.join("、")}` : el("span", { class: "flag" }, "未登记")),
        el("td", {}, h && h.acknowledged_at ? "已确认接收" : el("span", { class: recorded ? "flag" : "muted" }, "未确认")),
        el("td", {}, h && h.overdue ? el("span", { class: "flag" }, "已逾期") : "—"));
    });
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "材料移交情况" }, el("table", { id: "handover-table" },
      el("caption", {}, "副场材料移交"),
      el("thead", {}, el("tr", {}, ...["副场", "登记移交", "主场接收", "逾期"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
  }

  function recordForm(s, venue) {
    const items = s.handover_items || [];
    const err = el("span", { id: "ho-err", class: "field-error", hidden: true });
    const box = el("fieldset", { class: "bid", "aria-describedby": "ho-err" }, el("legend", {}, "逐项确认已移交主场的材料"),
      ...items.map((item, i) => el("div", { class: "check" }, el("input", { type: "checkbox", id: `ho-item-${i}`, value: item }),
        el("label", { for: `ho-item-${i}` }, `已移交「${item}」`))));
    const form = el("form", { id: "ho-form", novalidate: true }, el("h3", {}, "登记材料移交"), box, err,
      el("div", { class: "actions" }, el("button", { type: "submit" }, "登记材料移交")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const open = [...box.querySelectorAll("input")].filter((x) => !x.checked);
      err.textContent = open.length ? `请逐项确认全部材料已移交（尚未确认：${open.map((x) => x.value).join("、")}）` : "";
      err.hidden = !open.length;
      if (open.length) {
        open[0].focus();
        return;
      }
      const ok = await confirmDialog({ title: "登记材料移交？", confirm: "确认登记移交",
        lines: [`本场地（${venueLabel(s, venue)}）将登记已向主场移交：${items.join("、")}。`, "登记后不能撤回，写入审计日志；主场确认接收后移交完成。"] });
      if (ok) await command({ command: "record_handover", items: items.map((item) => ({ item, confirmed: true })) }, "已登记材料移交，等待主场确认接收");
    });
    return form;
  }

  function acknowledgeButtons(s) {
    const open = (s.handovers || []).filter((h) => h.recorded_at && !h.acknowledged_at);
    if (!open.length) return [];
    return [el("h3", {}, "确认接收副场移交"), ...open.map((h) => {
      const label = venueLabel(s, h.venue_id);
      return el("div", { class: "actions" }, el("button", { type: "button", onclick: async () => {
        const ok = await confirmDialog({ title: `确认接收${label}的移交？`, confirm: "确认接收",
          lines: [`${label}已登记移交：${h.items.join("、")}。`, "请先核对收到的材料与清单一致。确认后该场地的移交完成，写入审计日志，不能撤回。"] });
        if (ok) await command({ command: "acknowledge_handover", venue_id: h.venue_id }, `已确认接收${label}的移交`);
      } }, `确认接收${label}的移交`));
    })];
  }

  function update(s, who) {
    const clar = s.clarifications || [];
    const asking = who.leader && ASKING.includes(s.state);
    const answering = who.primary && ASKING.includes(s.state) && clar.some((c) => c.answer === null);
    const sealed = s.state === "sealed";
    const handover = sealed && (who.primary || who.secondary || who.supervisor) && s.venues.some((v) => !v.primary);
    card.hidden = !(clar.length || asking || answering || handover);
    const k = JSON.stringify([s.state, clar, s.handovers, s.handover_items, who, (s.bids || []).map((b) => [b.id, b.bidder])]);
    if (card.hidden || k === key) return;
    key = k;
    keepTyped(card, () => {
      const parts = [el("h2", { id: "ho-h" }, handover ? "澄清与材料移交" : "投标人澄清"), clarificationTable(s)];
      if (asking) parts.push(askForm(s));
      if (answering) clar.forEach((c, i) => c.answer === null && parts.push(answerForm(s, c, i)));
      if (handover) {
        parts.push(handoverTable(s));
        const mine = (s.handovers || []).find((h) => h.venue_id === who.venue);
        if (who.secondary && !(mine && mine.recorded_at) && (s.handover_items || []).length) parts.push(recordForm(s, who.venue));
        if (who.primary) parts.push(...acknowledgeButtons(s));
      }
      card.replaceChildren(...parts);
    });
  }

  return { card, update };
}
