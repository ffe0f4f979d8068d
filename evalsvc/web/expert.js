// The expert's workspace: the sheet of the current stage (built once per stage; events
// never re-render an input), drafts kept in localStorage, submission through the
// outbox, then the result, deviation explanations, the whole report, dissent and signing.

import { get } from "./api.js";
import { $, announce, confirmDialog, el, showErrorSummary } from "./dom.js";
import { CATEGORY_ZH, ERROR_ZH, KEY_ALGORITHM_ZH, STAGE_ZH, fieldLabel, seatLabel, venueLabel } from "./i18n.js";
import { notes, resultTable } from "./results.js";
import { bidKey, buildSheet, isReview, isScored, runningTotals, stageBids, stageCriteria, valuesFromSheet } from "./sheet.js";
import { Drafts, messageId } from "./store.js";
import { commandSender, effectiveState, electionLine, refusalCard, reportButtons, seatWithVenue } from "./steps.js";
import { handoverCard } from "./handover.js";
import { signReport, signSheet } from "./certkey.js";
import { currentSigner } from "./keyring.js";

const GUIDANCE = {
  technical: "依据投标文件技术部分和评分细则打分",
  commercial: "依据商务条款响应情况和评分细则打分",
};

const safeId = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, "_");
const fieldId = (bid, crit) => `f-${safeId(bid)}-${safeId(crit)}`;
// The session's stages in order (model.stage_plan, docs/scoring.md "Stages").
const stagePlan = (s) => ["qualification", ...(s.criteria.some((c) => c.category === "compliance") ? ["compliance"] : []),
  ...(s.stages === "split" ? ["technical", "commercial"] : ["scoring"])];

export function mount(ctx) {
  const { client, me, body, outbox, refreshLive, showProblem } = ctx;
  const command = commandSender({ client, showProblem, session: () => session });
  let session = null;
  let sheetKey = null; // what the built form is for: stage, seat, bids, criteria
  let drafts = null;
  let own = []; // own submitted sheets (GET …/progress)
  let ownSeq = null; // the document seq they were read at
  let resultKey = null;
  let reportKey = null;
  let voided = ""; // why this expert's signature no longer stands, once a dissent cleared it

  const seatCard = el("section", { class: "card", "aria-labelledby": "seat-h" },
    el("h2", { id: "seat-h" }, "我的席位"), el("p", { id: "seat-line" }),
    el("div", { id: "own-summary" }));
  const sheetCard = el("section", { class: "card", id: "sheet-card", "aria-labelledby": "sheet-h", hidden: true });
  const resultCard = el("section", { class: "card", id: "result-card", "aria-labelledby": "result-h", hidden: true });
  const reportCard = el("section", { class: "card", id: "report-card", "aria-labelledby": "report-h", hidden: true });
  // After check-in: the pledge, the declaration bid by bidder, the leader vote.
  const stepsCard = el("section", { class: "card", id: "steps-card", "aria-labelledby": "steps-h", hidden: true });
  // The leader's duties: re-review requests, and refusals after the signing deadline.
  const leaderCard = el("section", { class: "card", id: "leader-card", "aria-labelledby": "leader-h", hidden: true });
  const refusalBox = el("div");
  // The clarifications; the leader asks a bidder (docs/scoring.md "Clarification").
  const clarification = handoverCard({ command });
  body.append(seatCard, stepsCard, sheetCard, clarification.card, resultCard, reportCard, leaderCard, refusalBox);
  let stepsKey = null;
  let pledge = null; // GET …/pledge, read once
  let leaderKey = null;
  let timer = null;

  // --- the committee's steps (docs/scoring.md "Check-in, pledge and recusal", "Leader election")

  async function renderSteps(s, mySeat) {
    const show = effectiveState(s) === "checking_in" && mySeat && mySeat.checked_in;
    stepsCard.hidden = !show;
    if (!show) {
      stepsKey = null;
      return;
    }
    const e = s.election;
    const voted = Boolean(e && e.ballots.some((b) => b.seat === mySeat.index));
    const phase = !mySeat.pledged ? "pledge" : !mySeat.declared ? "declare" : e && !voted ? `vote-${e.round}` : "wait";
    const key = [phase, mySeat.index, (s.bidders || []).map((b) => b.id).join(","), e ? e.candidates.join(",") : ""].join("|");
    if (key !== stepsKey) {
      stepsKey = key;
      const head = el("h2", { id: "steps-h" }, "承诺书、回避声明与推选组长");
      const steps = el("ol", { class: "steps" }, ...[["pledge", "签署承诺书"], ["declare", "回避声明"], ["vote", "推选组长"]].map(([k, t]) =>
        el("li", { class: phase.startsWith(k) ? "current" : "", "aria-current": phase.startsWith(k) ? "step" : null }, t)));
      let part;
      if (phase === "pledge") part = await pledgeForm(s);
      else if (phase === "declare") part = declarationForm(s);
      else if (phase.startsWith("vote")) part = ballotForm(s, e);
      else part = el("p", {}, "您已签署承诺书并提交回避声明。");
      stepsCard.replaceChildren(head, steps, part, el("p", { id: "steps-status", class: "muted", role: "status" }));
    }
    const lines = [];
    if (voted) lines.push(`您已投出第 ${e.round} 轮选票（密封，计票时公开）。`);
    const line = electionLine(s);
    if (line) lines.push(line);
    else if (phase === "wait") lines.push("等待主场开始推选组长。");
    if (phase === "wait" && s.leader !== null && s.leader !== undefined) lines.push("等待主场开始评审。");
    $("steps-status").textContent = lines.join(" ");
  }

  async function pledgeForm(s) {
    if (!pledge) pledge = await get(`/api/sessions/${s.id}/pledge`);
    const err = el("span", { id: "pledge-err", class: "field-error", hidden: true });
    const box = el("input", { type: "checkbox", id: "pledge-read", "aria-describedby": "pledge-err" });
    const form = el("form", { novalidate: true, "aria-labelledby": "pledge-h" },
      el("h3", { id: "pledge-h" }, `评标专家承诺书（版本 ${pledge.version}）`),
      el("div", { class: "pledge-text", tabindex: "0", role: "document", "aria-labelledby": "pledge-h" }, pledge.text),
      el("p", { class: "digest" }, `承诺书 SHA-256：${pledge.sha256}`),
      el("div", { class: "check" }, box, el("label", { for: "pledge-read" }, "本人已阅读以上承诺书，承诺遵守"), err),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "签署承诺书")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!box.checked) {
        err.textContent = "请先阅读承诺书并勾选确认";
        err.hidden = false;
        box.setAttribute("aria-invalid", "true");
        box.focus();
        return;
      }
      if (await command({ command: "accept_pledge", sha256: pledge.sha256 }, "已签署承诺书")) return;
      // Refused (e.g. 409: the configured text changed since it was read): read it again.
      pledge = null;
      stepsKey = null;
      if (session) await update(session);
    });
    return form;
  }

  function declarationForm(s) {
    const bidders = s.bidders || [];
    const summary = el("div", { id: "decl-errors", class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
    const form = el("form", { id: "decl-form", novalidate: true, "aria-labelledby": "decl-h" },
      el("h3", { id: "decl-h" }, "回避声明"), summary,
      el("p", { class: "muted" }, "请逐一声明与每家投标人是否存在利害关系（评标委员会和评标方法暂行规定 第12条）。存在利害关系的，您将回避本项目，由候补专家替补。"));
    for (const b of bidders) {
      const id = safeId(b.id);
      const reasonId = `decl-${id}-reason`;
      const errId = `decl-${id}-err`;
      const radio = (value, text) => {
        const rid = `decl-${id}-${value}`;
        return el("div", { class: "check" }, el("input", { type: "radio", id: rid, name: `decl-${id}`, value, "aria-describedby": errId }),
          el("label", { for: rid }, text));
      };
      form.append(el("fieldset", { class: "bid" }, el("legend", {}, `${b.id} ${b.bidder}`),
        radio("no", "无利害关系"), radio("yes", "存在利害关系，申请回避"),
        el("label", { for: reasonId }, `${b.bidder} 回避原因（存在利害关系时填写）`),
        el("textarea", { id: reasonId, rows: "2", "aria-describedby": errId }),
        el("span", { id: errId, class: "field-error", hidden: true })));
    }
    form.append(el("div", { class: "actions" }, el("button", { type: "submit" }, "提交回避声明")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const declarations = [];
      const errors = [];
      for (const b of bidders) {
        const id = safeId(b.id);
        const choice = form.querySelector(`input[name="decl-${id}"]:checked`);
        const reason = $(`decl-${id}-reason`).value.trim();
        const err = $(`decl-${id}-err`);
        let message = "";
        let target = `decl-${id}-no`;
        if (!choice) message = "请选择是否存在利害关系";
        else if (choice.value === "yes" && !reason) {
          message = "存在利害关系时须填写回避原因";
          target = `decl-${id}-reason`;
        }
        err.textContent = message;
        err.hidden = !message;
        invalid($(`decl-${id}-reason`), Boolean(message) && target.endsWith("reason"));
        if (message) errors.push({ id: target, label: b.bidder, message });
        else declarations.push(choice.value === "yes" ? { bid_id: b.id, conflict: true, reason } : { bid_id: b.id, conflict: false });
      }
      showErrorSummary(summary, errors, errors.length ? `回避声明未提交：有 ${errors.length} 处需要修改` : "");
      if (errors.length) return;
      const conflicts = declarations.filter((d) => d.conflict);
      const ok = await confirmDialog(conflicts.length
        ? { title: "声明存在利害关系并回避？", danger: true, confirm: "确认回避",
          lines: [`您声明与 ${conflicts.map((d) => d.bid_id).join("、")} 存在利害关系。`, "提交后您将回避本项目，席位空出，由候补专家替补；不能撤回。"] }
        : { title: "提交回避声明？", confirm: "确认提交声明",
          lines: [`您声明与全部 ${declarations.length} 家投标人均无利害关系。`, "声明写入审计日志，提交后不能修改；如实声明是评标专家的义务。"] });
      if (ok) await command({ command: "declare_interests", declarations }, conflicts.length ? "已声明回避" : "回避声明已提交");
    });
    return form;
  }

  function ballotForm(s, e) {
    const err = el("span", { id: "vote-err", class: "field-error", hidden: true });
    const fs = el("fieldset", { class: "bid", "aria-describedby": "vote-err" },
      el("legend", {}, `第 ${e.round} 轮：推选评标委员会组长${e.round > 1 ? "（前两名决选）" : ""}`));
    for (const c of [...e.candidates, null]) {
      const rid = `vote-${c === null ? "blank" : c}`;
      fs.append(el("div", { class: "check" }, el("input", { type: "radio", id: rid, name: "vote", value: c === null ? "" : String(c) }),
        el("label", { for: rid }, c === null ? "弃权（空白票）" : seatWithVenue(s, c))));
    }
    const form = el("form", { id: "vote-form", novalidate: true }, fs, err,
      el("p", { class: "muted" }, "选票密封：计票前任何人（包括监督）都只能看到您已投票，看不到投给了谁。"),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "投出选票")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const choice = form.querySelector("input[name=vote]:checked");
      if (!choice) {
        err.textContent = "请选择一位候选人或弃权";
        err.hidden = false;
        $("vote-" + e.candidates[0]).focus();
        return;
      }
      const candidate = choice.value === "" ? null : Number(choice.value);
      const ok = await confirmDialog({ title: "投出选票？", confirm: "确认投票",
        lines: [candidate === null ? "您将投空白票（弃权）。" : `您将推选${seatWithVenue(s, candidate)}为评标委员会组长。`, "投出后本轮不能更改。"] });
      if (ok) await command({ command: "cast_vote", candidate }, "选票已投出");
    });
    return form;
  }

  // --- the leader (组长): re-review, refusals ----------------------------------------------

  function renderLeader(s, mySeat) {
    const state = s.state;
    const leader = mySeat && s.leader === mySeat.index;
    const show = leader && ["aggregating", "reporting"].includes(state);
    leaderCard.hidden = !show;
    const refusals = leader ? refusalCard(s, { command, later }) : null;
    refusalBox.replaceChildren(...(refusals ? [refusals] : []));
    if (!show) {
      leaderKey = null;
      return;
    }
    const r = s.rereview;
    const key = `${state}|${r ? `${r.seats.join(",")}|${r.reason}` : ""}`;
    if (key === leaderKey) return;
    leaderKey = key;
    const head = el("h2", { id: "leader-h" }, "组长：申请复核");
    if (r) {
      leaderCard.replaceChildren(head, el("p", {}, `已申请复核${r.seats.map(seatLabel).join("、")}的${STAGE_ZH[r.stage] || "评分"}（原因：${r.reason}），等待监督决定。`));
      return;
    }
    const err = el("span", { id: "rr-err", class: "field-error", hidden: true });
    const seatsBox = el("fieldset", { class: "bid", "aria-describedby": "rr-err" }, el("legend", {}, "需复核的席位"),
      ...s.seats.map((x) => el("div", { class: "check" }, el("input", { type: "checkbox", id: `rr-${x.index}`, value: String(x.index) }),
        el("label", { for: `rr-${x.index}` }, seatWithVenue(s, x.index)))));
    const reason = el("textarea", { id: "rr-reason", rows: "2", "aria-describedby": "rr-err" });
    // Any locked stage may be re-reviewed (docs/scoring.md "Re-review"); scoring first.
    const stageSelect = el("select", { id: "rr-stage" },
      ...stagePlan(s).slice().reverse().map((x) => el("option", { value: x }, STAGE_ZH[x])));
    const form = el("form", { id: "rr-form", novalidate: true }, head,
      el("label", { for: "rr-stage" }, "复核阶段"), stageSelect,
      el("p", { class: "muted" }, "发现分值汇总错误、评分超出范围或客观分评分不一致等，可申请由相关席位重新评分；监督批准后详细评审对这些席位重新开启，已有签名作废。"),
      seatsBox, el("label", { for: "rr-reason" }, "复核原因"), reason, err,
      el("div", { class: "actions" }, el("button", { type: "submit", class: "secondary" }, "申请复核")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const seats = [...seatsBox.querySelectorAll("input:checked")].map((i) => Number(i.value));
      const text = reason.value.trim();
      const message = !seats.length ? "请选择至少一个需复核的席位" : !text ? "请填写复核原因" : "";
      err.textContent = message;
      err.hidden = !message;
      invalid(reason, !text && Boolean(seats.length));
      if (message) {
        (seats.length ? reason : seatsBox.querySelector("input")).focus();
        return;
      }
      const ok = await confirmDialog({ title: "申请复核？", confirm: "确认申请复核",
        lines: [`申请复核${seats.map(seatLabel).join("、")}的评分：${text}`, "申请交监督决定；批准后这些席位重新评分，已有签名作废。"] });
      if (ok) await command({ command: "request_rereview", stage: stageSelect.value, seats, reason: text }, "复核申请已提交，等待监督决定");
    });
    leaderCard.replaceChildren(form);
  }

  function invalid(node, bad) {
    if (bad) node.setAttribute("aria-invalid", "true");
    else node.removeAttribute("aria-invalid");
  }

  function later(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (session) update(session).catch(() => {});
    }, Math.min(ms, 2 ** 31 - 1));
  }

  // --- the sheet ------------------------------------------------------------------------

  function typedValues() {
    const values = {};
    for (const input of sheetCard.querySelectorAll("[data-bid]")) {
      const b = input.dataset.bid;
      values[b] = values[b] || {};
      const key = input.dataset.reason ? `${input.dataset.crit}#reason` : input.dataset.crit;
      values[b][key] = input.type === "checkbox" ? input.checked : input.value;
    }
    return values;
  }

  function buildForm(s, stage) {
    const seat = s.you.seat;
    drafts = new Drafts(localStorage, s.id, stage, seat);
    const last = lastOwn(stage);
    const start = drafts.load() || (last ? valuesFromSheet(last.sheet) : {});
    const crits = stageCriteria(s, stage);
    const form = el("form", { id: "sheet-form", novalidate: true });
    const summary = el("div", { id: "sheet-errors", class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
    form.append(summary);
    if (isScored(s, stage)) {
      form.append(el("p", { class: "muted" }, `分值按步长 ${s.rules.step} 分填写，例如 35 或 35.5。输入内容会自动保存在本机，刷新或断网都不会丢失。`));
    } else if (isReview(stage)) {
      form.append(el("p", { class: "muted" }, `逐项确认投标人是否满足${stage === "compliance" ? "符合性" : "资格"}条件；未勾选即为不通过，不通过须填写理由。`));
    }
    if (s.anonymised) {
      // 暗标 (docs/scoring.md): during the technical review bids are shown by code only.
      form.append(el("p", { class: "muted", id: "anon-note" }, "暗标评审：投标文件仅以暗标编号显示，技术评审锁定后公开对应关系。"));
    }
    for (const b of stageBids(s, stage)) {
      const key = bidKey(b);
      const title = b.code ? `暗标编号 ${b.code}` : `${b.id} ${b.bidder}`;
      const fs = el("fieldset", { class: "bid" }, el("legend", {}, title));
      const typed = start[key] || {};
      if (isReview(stage)) {
        for (const c of crits) {
          const id = fieldId(key, c.id);
          const rid = fieldId(key, `${c.id}-reason`);
          fs.append(el("div", { class: "check" },
            el("input", { type: "checkbox", id, "data-bid": key, "data-crit": c.id, checked: typed[c.id] !== false }),
            el("label", { for: id }, el("span", { class: "vh" }, `${key} `), c.name), el("span", { class: "muted" }, "（勾选表示通过）")),
          el("div", { class: "field" },
            el("label", { for: rid }, el("span", { class: "vh" }, `${key} ${c.name} `), "不通过理由"),
            el("textarea", { id: rid, rows: "2", "data-bid": key, "data-crit": c.id, "data-reason": "1", maxlength: "500",
              "aria-describedby": `${rid}-hint ${rid}-err` }, typed[`${c.id}#reason`] ?? ""),
            el("span", { id: `${rid}-hint`, class: "hint" }, "不通过时必填，将写入评标报告的废标情况说明"),
            el("span", { id: `${rid}-err`, class: "field-error", hidden: true })));
        }
      } else if (s.method === "weighted_scoring") {
        for (const c of crits) {
          const id = fieldId(key, c.id);
          const hint = `${id}-hint`;
          const err = `${id}-err`;
          // The criterion's own guidance as registered (per criterion, never per bid: under
          // 暗标 the server refuses one naming a bidder), else the category's general rule.
          const guide = c.guidance ? `${id}-guide` : null;
          fs.append(el("div", { class: "field" },
            el("label", { for: id }, el("span", { class: "vh" }, `${key} `), c.name),
            el("input", { id, class: "score", type: "text", inputmode: "decimal", autocomplete: "off",
              "data-bid": key, "data-crit": c.id, value: typed[c.id] ?? "", "aria-describedby": [hint, guide, err].filter(Boolean).join(" ") }),
            el("span", { id: hint, class: "hint" }, `满分 ${c.max_points} 分 · 步长 ${s.rules.step} · ${CATEGORY_ZH[c.category]}${guide ? "" : `：${GUIDANCE[c.category] || ""}`}`),
            guide ? el("span", { id: guide, class: "hint guidance" }, `评分指引：${c.guidance}`) : "",
            el("span", { id: err, class: "field-error", hidden: true })));
        }
        fs.append(el("p", { class: "subtotal", id: `total-${safeId(key)}` }));
      } else {
        const rid = fieldId(b.id, "responsive");
        const aid = fieldId(b.id, "adjustment");
        fs.append(el("div", { class: "check" },
          el("input", { type: "checkbox", id: rid, "data-bid": b.id, "data-crit": "responsive", checked: typed.responsive !== false }),
          el("label", { for: rid }, el("span", { class: "vh" }, `${b.id} `), "实质性响应")),
        el("div", { class: "field" },
          el("label", { for: aid }, el("span", { class: "vh" }, `${b.id} `), "价格调整（元）"),
          el("input", { id: aid, class: "score", type: "text", inputmode: "decimal", "data-bid": b.id, "data-crit": "adjustment",
            value: typed.adjustment ?? "", "aria-describedby": `${aid}-err` }),
          el("span", { id: `${aid}-err`, class: "field-error", hidden: true })));
      }
      form.append(fs);
    }
    const button = el("button", { type: "submit", id: "sheet-submit" }, "提交评审表");
    form.append(el("div", { class: "actions" }, button, el("span", { id: "sheet-status", class: "muted", role: "status" })));
    form.addEventListener("input", () => {
      drafts.save(typedValues());
      renderTotals();
    });
    form.addEventListener("change", () => drafts.save(typedValues()));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit();
    });
    sheetCard.replaceChildren(el("h2", { id: "sheet-h" }, `我的评审表 — ${STAGE_ZH[stage]}`), form);
    renderTotals();
  }

  function renderTotals() {
    if (!session || !session.stage || !isScored(session, session.stage)) return;
    const totals = runningTotals(session, session.stage, typedValues());
    for (const [bid, t] of Object.entries(totals)) {
      const p = $(`total-${safeId(bid)}`);
      if (p) p.textContent = `小计 ${t.total} / ${t.max} 分（已填 ${t.filled}/${t.of} 项）`;
    }
  }

  function markErrors(errors) {
    for (const input of sheetCard.querySelectorAll("input.score, textarea[data-reason]")) {
      input.removeAttribute("aria-invalid");
      const e = $(`${input.id}-err`);
      if (e) {
        e.hidden = true;
        e.textContent = "";
      }
    }
    const listed = [];
    for (const x of errors) {
      const [kind, bid, crit] = String(x.field || "").split("/");
      const name = kind === "reasons" ? `${crit}-reason` : crit === "adjustment_fen" ? "adjustment" : crit;
      const id = bid && crit ? fieldId(bid, name) : null;
      const input = id ? $(id) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const e = $(`${id}-err`);
        if (e) {
          e.textContent = x.message;
          e.hidden = false;
        }
      }
      listed.push({ id: input ? id : null, label: x.label, message: x.message });
    }
    showErrorSummary($("sheet-errors"), listed, listed.length ? `评审表未提交：有 ${listed.length} 处需要修改` : "");
  }

  function lastOwn(stage) {
    return [...own].reverse().find((x) => x.stage === stage) || null;
  }

  function pendingSheets() {
    return outbox.all().filter((m) => m.type === "submit");
  }

  function renderStatus() {
    const st = $("sheet-status");
    if (!st || !session) return;
    const pending = pendingSheets().find((m) => m.sheet.stage === session.stage);
    const last = lastOwn(session.stage);
    const button = $("sheet-submit");
    const paused = session.state === "paused";
    button.disabled = paused || Boolean(pending);
    if (paused) st.textContent = "项目已暂停，恢复后才能提交（已输入的内容保存在本机）";
    else if (pending) st.textContent = client.status === "live" ? "正在提交…" : "已保存在本机，网络恢复后自动提交";
    else st.textContent = last ? `已提交第 ${last.version} 版；本阶段锁定前可修改后重新提交` : "尚未提交";
    refreshLive();
  }

  async function submit() {
    const stage = session.stage;
    const { sheet, errors } = buildSheet(session, stage, typedValues());
    markErrors(errors);
    if (errors.length) return;
    const last = lastOwn(stage);
    const lines = [`将提交${STAGE_ZH[stage]}评审表第 ${last ? last.version + 1 : 1} 版。`];
    if (isScored(session, stage)) {
      const t = runningTotals(session, stage, typedValues());
      lines.push(Object.entries(t).map(([b, x]) => `${b} 小计 ${x.total} 分`).join("，"));
    }
    lines.push("提交后其他人只能看到您已提交，看不到分数；本阶段锁定前可以重新提交，锁定后不能再改。");
    const signer = await currentSigner();
    // docs/pki.md "Signed sheets": a certificate-logged-in expert must sign with that key.
    if (signer) {
      lines.push(`评审表将用您的 ${KEY_ALGORITHM_ZH[signer.algorithm]} 证书签名；签名在本阶段锁定时随评审表一起公开。`);
      // 暗标: what is signed is what is shown — the bids by code (docs/pki.md "Signed sheets").
      if (session.anonymised) lines.push("签名的内容即本页所示：按暗标编号填写的分数，不含投标人名称。");
    }
    const ok = await confirmDialog({ title: "提交评审表？", lines, confirm: "确认提交" });
    if (!ok) return;
    // Signed before it enters the outbox: a resend after a drop carries the same bytes.
    const body = signer ? await signSheet(signer, sheet) : sheet;
    outbox.add({ type: "submit", id: messageId(`sheet-${session.you.seat}`), sheet: body, queued_ms: Date.now() });
    renderStatus();
    client.flush();
  }

  client.on("outbox-ack", async (_id, ack) => {
    announce(`评审表已保存（第 ${ack.result.version} 版）`, "ok");
    await loadOwn();
    renderStatus();
  });
  client.on("outbox-error", (_id, err) => {
    const label = err.field ? fieldLabel(session, err.field) : "";
    const message = err.code === "invalid_input" ? "服务器不接受此值，请检查" : ERROR_ZH[err.code] || "提交失败";
    if ($("sheet-errors") && !sheetCard.hidden) markErrors([{ field: err.field, label: label || "评审表", message }]);
    else showProblem(`评审表未能提交：${message}`); // the stage moved on while it waited
    renderStatus();
  });
  client.on("status", renderStatus);

  async function loadOwn() {
    try {
      const progress = await get(`/api/sessions/${session.id}/progress`);
      own = progress.own_sheets || [];
    } catch {
      // Shown by the live status; the form keeps its values.
    }
    renderSummary();
  }

  /** What this expert has submitted, stage by stage: the latest version and its totals. */
  function renderSummary() {
    const box = $("own-summary");
    if (!box || !session) return;
    const lines = [];
    for (const stage of ["qualification", "compliance", "scoring", "technical", "commercial"]) {
      const last = lastOwn(stage);
      if (!last) continue;
      let detail = "";
      if (isReview(stage)) {
        const failed = Object.entries(last.sheet.bids).filter(([, v]) => Object.values(v).includes(false)).map(([b]) => b);
        detail = failed.length ? `，不通过：${failed.join("、")}` : "，全部通过";
      } else if (session.method === "weighted_scoring") {
        // (暗标: the stored sheet names bids by id, the screen by code: totals only then.)
        const totals = session.anonymised ? {} : runningTotals(session, stage, valuesFromSheet(last.sheet));
        detail = `：${Object.entries(totals).map(([b, t]) => `${b} ${t.total} 分`).join("，")}`;
      }
      lines.push(el("li", {}, `${STAGE_ZH[stage]} 第 ${last.version} 版${detail}`));
    }
    box.replaceChildren(...(lines.length ? [el("h3", {}, "我已提交的评审表"), el("ul", {}, lines)] : []));
  }

  // --- result, explanations, report ---------------------------------------------------------

  async function renderResult(s) {
    const after = ["aggregating", "reporting", "sealed"];
    const state = s.state === "paused" ? s.paused.from_state : s.state;
    resultCard.hidden = !after.includes(state);
    if (resultCard.hidden) return;
    const key = `${s.last_seq}`;
    if (key === resultKey) return;
    resultKey = key;
    const agg = await get(`/api/sessions/${s.id}/aggregation`);
    const actions = el("div", { class: "actions" });
    for (const [seat, bid] of s.pending_explanations || []) {
      if (seat !== s.you.seat || s.state !== "aggregating") continue;
      actions.append(el("button", { type: "button", onclick: () => explain(bid) }, `说明对 ${bid} 的评分偏离`));
    }
    resultCard.replaceChildren(el("h2", { id: "result-h" }, "评审结果"), resultTable(agg, "委员会汇总结果"),
      notes(agg, { explanations: s.explanations, dissents: s.dissents, share: s.rules.deviation_share }), actions);
  }

  async function explain(bid) {
    const text = await confirmDialog({ title: `说明对 ${bid} 的评分偏离`, lines: ["您的评分偏离委员会平均值超过规定比例，请写明理由。说明将写入评标报告，提交后不能修改。"],
      confirm: "提交说明", input: "偏离理由" });
    if (!text) return;
    await command({ command: "explain_deviation", bid_id: bid, text }, "偏离说明已提交");
  }


  async function renderReport(s) {
    const state = s.state === "paused" ? s.paused.from_state : s.state;
    reportCard.hidden = !(state === "reporting" || state === "sealed");
    if (reportCard.hidden) return;
    const key = `${s.last_seq}`;
    if (key === reportKey) return;
    reportKey = key;
    const r = await get(`/api/sessions/${s.id}/report`);
    const doc = r.report;
    const mine = s.you.seat;
    const signed = new Set(r.signed);
    // evalsvc-report/v2 (docs/report.md): the sections of 暂行规定 第42条.
    const members = doc.committee.members || [];
    const leaderSeat = doc.committee.leader_seat;
    const parts = [el("h2", { id: "report-h" }, "评标报告"),
      el("p", {}, `${doc.basic.title} · 招标人 ${doc.basic.tenderer}`),
      el("p", { class: "muted" }, `评标委员会：${members.map((c) => `${seatLabel(c.seat)}（${venueLabel(s, c.venue_id)}）${c.seat === leaderSeat ? "（组长）" : ""}`).join("、")}`),
      resultTable(doc.result, "推荐排名"),
      notes(doc.result, { explanations: doc.explanations, dissents: doc.dissents, share: s.rules.deviation_share }),
      ...(doc.rereviews || []).map((r) => el("p", {}, `复核（第 ${r.round} 次）：${r.seats.map(seatLabel).join("、")}重新评分。原因：${r.reason}；监督意见：${r.decision || "—"}`)),
      ...(doc.deemed_agreements || []).map((d) => el("p", {}, `${seatLabel(d.seat)}视为同意（第43条）：${d.note}`)),
      el("p", {}, `已签署：${r.signed.length ? r.signed.map(seatLabel).join("、") : "尚无"}（共 ${doc.committee.length} 席）`),
      el("p", { class: "digest" }, `报告摘要 SHA-256：${r.sha256}`)];
    if (voided) {
      parts.push(el("p", { class: "warning", role: "alert" }, voided));
    }
    const actions = el("div", { class: "actions" });
    if (s.state === "reporting" && !signed.has(mine)) {
      actions.append(el("button", { type: "button", onclick: () => sign(r) }, "签署评标报告"));
      actions.append(el("button", { type: "button", class: "secondary", onclick: () => dissent(r) }, "记录不同意见"));
    } else if (signed.has(mine)) {
      parts.push(el("p", { class: "ok-text" }, "您已签署本报告。"));
    }
    parts.push(actions);
    const files = reportButtons(s, "expert", (err) => showProblem(ERROR_ZH[err.code] || "无法打开评标报告"));
    if (files) parts.push(files);
    reportCard.replaceChildren(...parts);
  }

  async function sign(r) {
    const signer = await currentSigner();
    const first = r.report.result.ranking[0];
    const ok = await confirmDialog({ title: "签署评标报告？",
      lines: [`您将以${seatLabel(session.you.seat)}的身份签署上方的评标报告${first ? `（第一名 ${first.bid_id} ${first.bidder}）` : ""}。`,
        `签署的是摘要 SHA-256：${r.sha256} 的这一版；签署后不能撤回。`,
        ...(signer ? [`将用您的 ${KEY_ALGORITHM_ZH[signer.algorithm]} 证书对这一版报告的规范化字节签名。`] : []),
        "如有不同意见，请先取消并“记录不同意见”。"],
      confirm: "确认签署" });
    if (!ok) return;
    const body = { command: "sign_report", report_sha256: r.sha256 };
    // The signature covers the report's canonical bytes (docs/pki.md "The signed report").
    if (signer) Object.assign(body, await signReport(signer, r.signing_bytes));
    if (await command(body, signer ? "已用证书签署评标报告" : "已签署评标报告")) voided = "";
  }

  async function dissent(r) {
    const others = r.signed.length;
    const text = await confirmDialog({ title: "记录不同意见？",
      lines: ["不同意见将写入评标报告，记录后不能撤回。",
        others ? `已有 ${others} 位专家签署；记录后报告内容改变，这些签名全部作废，需重新签署。` : "报告内容将改变，之后签署的是包含您意见的新版本。"],
      confirm: "记录不同意见", danger: true, input: "不同意见" });
    if (!text) return;
    await command({ command: "record_dissent", text }, "不同意见已记录：报告已改变，请重新阅读后再签署");
  }

  client.on("event", (e, replay) => {
    if (replay || !session) return;
    const p = e.payload || {};
    if (e.event === "report.signatures_cleared" && (p.seats || []).includes(session.you.seat)) {
      voided = `您的签名已作废：${seatLabel(p.by_seat)}记录了不同意见，报告已改变。请重新阅读并签署。`;
      announce(voided, "warn");
    }
  });

  // --- the whole screen -------------------------------------------------------------------------

  async function update(s) {
    session = s;
    const seat = s.you && s.you.seat !== undefined ? s.you.seat : null;
    const mySeat = seat !== null ? s.seats.find((x) => x.index === seat) : null;
    $("seat-line").textContent = mySeat ? `${seatLabel(seat)} · ${venueLabel(s, mySeat.venue_id)} · ${mySeat.checked_in ? "已签到" : "未签到"}${s.leader === seat ? " · 评标委员会组长" : ""}` : "您不在本项目的评标委员会中";
    const state = s.state === "paused" ? s.paused.from_state : s.state;
    const stage = state === "evaluating" ? s.stage || (s.paused && s.paused.from_stage) : null;
    if (stage && mySeat) {
      const key = [stage, seat, stageBids(s, stage).map((b) => b.id).join(","), stageCriteria(s, stage).map((c) => c.id).join(",")].join("|");
      if (key !== sheetKey) {
        await loadOwn();
        sheetKey = key;
        buildForm(s, stage);
      }
      sheetCard.hidden = false;
    } else {
      sheetCard.hidden = true;
      sheetKey = null;
    }
    renderStatus();
    if (ownSeq !== s.last_seq) {
      ownSeq = s.last_seq;
      await loadOwn();
    }
    await renderSteps(s, mySeat);
    renderLeader(s, mySeat);
    clarification.update(s, { leader: Boolean(mySeat) && s.leader === mySeat.index });
    await renderResult(s);
    await renderReport(s);
  }

  return { update, unmount() {
    if (timer) clearTimeout(timer);
  } };
}

