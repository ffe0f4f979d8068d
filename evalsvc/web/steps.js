// The committee's steps shared by the workspaces (docs/scoring.md "Check-in, pledge and
// recusal", "Leader election", "Refusing to sign", "Re-review") and the report's HTML/PDF
// renderings (docs/report.md "HTML and PDF"). Each function builds elements from the
// session document the client folded; commands go through the caller's `command`.

import { ApiError, getToken } from "./api.js";
import { announce, confirmDialog, el } from "./dom.js";
import { ERROR_ZH, fieldLabel, seatLabel, venueLabel } from "./i18n.js";
import { messageId } from "./store.js";

/**
 * The workspaces' `command(body, done)`: sends a session command over the WebSocket,
 * announces `done` once applied, or shows the refusal in Chinese with the field's name
 * (`session()` names the fields); resolves whether it applied.
 */
export function commandSender({ client, showProblem, session }) {
  return async (body, done) => {
    try {
      await client.request({ type: "command", id: messageId(`cmd-${body.command}`), body });
      announce(done, "ok");
      return true;
    } catch (err) {
      showProblem(`${ERROR_ZH[err.code] || "操作失败"}${err.field ? `：${fieldLabel(session(), err.field)}` : ""}`);
      return false;
    }
  };
}

/** Asks for the reason and pauses the session (an operator, the supervisor). */
export async function pauseWithReason(command) {
  const reason = await confirmDialog({ title: "暂停评标？",
    lines: ["暂停后各场地的专家都不能提交，直到主场恢复。暂停原因会通知所有场地并写入审计日志。"],
    confirm: "确认暂停", danger: true, input: "暂停原因" });
  if (reason) await command({ command: "pause", reason }, "已暂停评标");
}

/** The state a paused session returns to (the steps offered are those of that state). */
export const effectiveState = (s) => (s.state === "paused" && s.paused ? s.paused.from_state : s.state);

/**
 * Opens the report (`html`) or downloads it (`pdf`): fetched with the bearer token (a plain
 * link would carry none) and handed over as a blob.
 */
export async function openReport(sessionId, kind) {
  let r;
  try {
    r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/report.${kind}`, {
      headers: { Authorization: `Bearer ${getToken()}` },
    });
  } catch {
    throw new ApiError(0, { code: "network" });
  }
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
  let blob = await r.blob();
  if (kind === "html") {
    // A blob document resolves no relative URL (and the CSP forbids <base>): make the
    // stylesheet's link absolute.
    const text = (await blob.text()).replace('href="/static/', `href="${location.origin}/static/`);
    blob = new Blob([text], { type: "text/html" });
  }
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, target: "_blank", rel: "noopener",
    download: kind === "pdf" ? `评标报告-${sessionId}.pdf` : undefined });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/**
 * The report buttons: the draft (no names) to the seated members and supervisors while
 * the report is being signed, everyone's after the seal. Null when there is none to show.
 */
export function reportButtons(s, role, onError) {
  const state = effectiveState(s);
  const draft = state === "reporting";
  if (!(state === "sealed" || (draft && role !== "operator"))) return null;
  const word = draft ? "评标报告草稿" : "评标报告";
  const run = (kind) => openReport(s.id, kind).catch(onError);
  return el("div", { class: "actions report-files" },
    el("button", { type: "button", class: "secondary", onclick: () => run("html") }, `查看${word}`),
    el("button", { type: "button", class: "secondary", onclick: () => run("pdf") }, `下载${word} PDF`),
    draft ? el("span", { class: "muted" }, "草稿不含专家姓名，封存后公布") : null);
}

/** Seats that neither signed, dissented, were deemed to agree nor have a refusal on record. */
export function unsignedSeats(s) {
  const dissented = new Set((s.dissents || []).map(([seat]) => seat));
  const refused = new Set((s.refusals || []).map(([seat]) => seat));
  return s.seats.map((x) => x.index).filter((i) => !(s.signed || []).includes(i) &&
    !(s.deemed || []).includes(i) && !dissented.has(i) && !refused.has(i));
}

/**
 * 第43条: after the signing deadline the leader (or the primary operator) records in writing
 * that a member neither signed nor dissented. Before the deadline, says when it falls and
 * calls `later` then (a re-render). Null outside reporting.
 */
export function refusalCard(s, { command, later }) {
  if (s.state !== "reporting" || !s.sign_deadline) return null;
  const due = s.sign_deadline * 1000;
  const when = new Date(due).toLocaleTimeString("zh-CN", { hour12: false });
  const waiting = unsignedSeats(s);
  const parts = [el("h3", { id: "refusal-h" }, "拒签记录（第43条）")];
  if (Date.now() < due) {
    parts.push(el("p", { class: "muted" }, `签署截止时间 ${when}；截止后仍未签字也未陈述不同意见的席位，可由组长记录拒签，监督确认后视为同意。`));
    later(due - Date.now() + 500);
  } else if (!waiting.length) {
    parts.push(el("p", { class: "muted" }, "已过签署截止时间；没有需要记录的席位。"));
  } else {
    parts.push(el("p", {}, `已过签署截止时间 ${when}：${waiting.map(seatLabel).join("、")}既未签字也未陈述不同意见。`));
    const actions = el("div", { class: "actions" });
    for (const seat of waiting) {
      actions.append(el("button", { type: "button", class: "secondary", onclick: async () => {
        const note = await confirmDialog({ title: `记录${seatLabel(seat)}拒签？`,
          lines: ["委员会书面记录该席位既未签字也未书面陈述不同意见和理由。", "记录后由监督确认，确认后视为同意评标结果。"],
          confirm: "记录拒签", input: "委员会书面记录" });
        if (note) await command({ command: "record_refusal", seat, note }, `已记录${seatLabel(seat)}拒签`);
      } }, `记录${seatLabel(seat)}拒签`));
    }
    parts.push(actions);
  }
  for (const [seat, note] of s.refusals || []) {
    parts.push(el("p", {}, `${seatLabel(seat)}：${note}${(s.deemed || []).includes(seat) ? "（监督已确认视为同意）" : "（待监督确认）"}`));
  }
  return el("section", { class: "card", id: "refusals", "aria-labelledby": "refusal-h" }, ...parts);
}

/** A seat and its venue, as candidates and ballots name them ("第 2 席 · 苏州（副场）"). */
export function seatWithVenue(s, index) {
  const seat = s.seats.find((x) => x.index === index);
  return seat ? `${seatLabel(index)} · ${venueLabel(s, seat.venue_id)}` : seatLabel(index);
}

/**
 * Where the election stands, for anyone watching it. An expert's document lists its own
 * seat only, so `withSize` (operators, supervisors) adds how many of the committee voted.
 */
export function electionLine(s, { withSize = false } = {}) {
  if (s.leader !== null && s.leader !== undefined) return `评标委员会组长：${seatWithVenue(s, s.leader)}`;
  const e = s.election;
  if (!e) return "";
  const voted = e.ballots.length;
  return `推选组长第 ${e.round} 轮${e.round > 1 ? "（决选）" : ""}：候选 ${e.candidates.map(seatLabel).join("、")}；已投 ${voted}${withSize ? `/${s.seats.length}` : ""} 票（密封，计票时公开）`;
}

/** Checked-in members yet to pledge / declare, for the operator's reason a step is blocked. */
export function committeeReadiness(s) {
  const absent = s.seats.filter((x) => !x.checked_in).map((x) => x.index);
  const unpledged = s.seats.filter((x) => x.checked_in && !x.pledged).map((x) => x.index);
  const undeclared = s.seats.filter((x) => x.checked_in && x.pledged && !x.declared).map((x) => x.index);
  const why = [];
  if (absent.length) why.push(`${absent.map(seatLabel).join("、")}尚未签到`);
  if (unpledged.length) why.push(`${unpledged.map(seatLabel).join("、")}尚未签署承诺书`);
  if (undeclared.length) why.push(`${undeclared.map(seatLabel).join("、")}尚未提交回避声明`);
  return why.join("；");
}
