// The primary operator's side of a designation (招标人指定专家, 评标委员会和评标方法暂行规定
// 第10条; docs/draw.md §6.7): propose experts seat by seat (`assign_seat`: the expert's
// pool id and name), submit the proposals with a written reason (`designate_experts`),
// and follow the supervisor's decision live — 待审批, 已批准 or 已驳回 with the
// supervisor's opinion. Nothing is re-rendered while its inputs are unchanged, so typed
// text survives the events around it.

import { $, announce, confirmDialog, el, fieldProblem } from "./dom.js";
import { seatLabel, venueLabel } from "./i18n.js";

const ID = /^[A-Za-z0-9_.:@-]{1,64}$/;
const REASON_MAX = 2000; // schemas.DesignateExpertsIn

/** The designation's status from the session's seats and the last decision event:
 * {status: "none" | "requested" | "approved" | "rejected", seats, reason}. Pure. */
export function designationStatus(s, decision) {
  const requested = s.seats.filter((x) => x.source === "requested");
  if (requested.length) return { status: "requested", seats: requested.map((x) => x.index), reason: null };
  if (decision) return { status: decision.approved ? "approved" : "rejected", seats: decision.seats, reason: decision.reason };
  // Opened after a long history (a snapshot, not the events): the seats still say it.
  const designated = s.seats.filter((x) => x.source === "designated");
  if (designated.length) return { status: "approved", seats: designated.map((x) => x.index), reason: null };
  return { status: "none", seats: [], reason: null };
}

const STATUS_ZH = { requested: "待审批", approved: "已批准", rejected: "已驳回" };

function labelled(id, label, input, hint) {
  return el("div", { class: "reg-field" }, el("label", { for: id }, label), input,
    hint ? el("span", { id: `${id}-hint`, class: "hint" }, hint) : "",
    el("span", { id: `${id}-err`, class: "field-error", hidden: true }));
}

/** The card; `update(s, {primary, drawPhase})` after every session change. */
export function designationCard({ client, command }) {
  const card = el("section", { class: "card", id: "designation", "aria-labelledby": "dsg-h", hidden: true });
  let session = null;
  let primary = false;
  let drawPhase = null;
  let requestReason = "";
  let decision = null; // the last designation.approved / .rejected: {approved, seats, reason}
  let key = null;

  client.on("event", (e, replay) => {
    const p = e.payload || {};
    if (e.event === "designation.requested") {
      requestReason = p.reason || "";
      decision = null;
    } else if (e.event === "designation.approved" || e.event === "designation.rejected") {
      decision = { approved: e.event === "designation.approved", seats: p.seats || [], reason: p.reason || "" };
      // Live (not a replay on opening the page): the operator is told where they look.
      if (!replay && primary) {
        announce(`监督${decision.approved ? "已批准" : "已驳回"}指定专家申请：${decision.reason}`, decision.approved ? "ok" : "warn");
      }
    } else {
      return;
    }
    if (session) render();
  });

  const who = (s, seats) => seats.map((i) => {
    const x = s.seats[i];
    return `${seatLabel(i)}（${venueLabel(s, x.venue_id)}）${x && x.expert_name ? x.expert_name : ""}`;
  }).join("、");

  async function propose() {
    const seat = $("dsg-seat");
    const id = $("dsg-expert-id");
    const name = $("dsg-expert-name");
    const idText = id.value.trim();
    const nameText = name.value.trim();
    const index = Number(seat.value);
    // One expert holds one seat (the server refuses a second): said beside the field.
    const held = session.seats.find((x) => x.expert_id === idText && x.index !== index);
    const good = [
      fieldProblem(id.id, !idText ? "专家库编号：请填写" : !ID.test(idText) ? "专家库编号：应为 1 到 64 位字母、数字或 _ . : @ -"
        : held ? `专家库编号：该专家已在${seatLabel(held.index)}，一名专家只能占一个席位` : ""),
      fieldProblem(name.id, nameText ? (nameText.length > 50 ? "专家姓名：最多 50 个字" : "") : "专家姓名：请填写"),
    ];
    if (good.includes(false)) {
      (good[0] ? name : id).focus();
      return;
    }
    const ok = await confirmDialog({ title: "提议指定专家？", confirm: "确认提议",
      lines: [`${seatLabel(index)}（${venueLabel(session, session.seats[index].venue_id)}）提议由 ${nameText}（专家库编号 ${idText}）担任。`,
        "提议只是申请的草稿：提交指定申请并经监督批准后才生效，在此之前该专家不会收到任何通知。"] });
    if (ok && await command({ command: "assign_seat", seat: index, expert_id: idText, expert_name: nameText }, `已提议${seatLabel(index)}的指定专家`)) {
      id.value = "";
      name.value = "";
    }
  }

  async function submit() {
    const reason = $("dsg-reason");
    const text = reason.value.trim();
    if (!fieldProblem(reason.id, !text ? "申请理由：请填写（例如项目特殊、库内无相应专业专家）"
      : text.length > REASON_MAX ? `申请理由：最多 ${REASON_MAX} 个字` : "")) {
      reason.focus();
      return;
    }
    const proposed = session.seats.filter((x) => x.source === "proposed").map((x) => x.index);
    const ok = await confirmDialog({ title: "提交指定专家申请？", confirm: "确认提交申请",
      lines: [`将申请由招标人指定 ${who(session, proposed)}（评标委员会和评标方法暂行规定 第10条）。`,
        `申请理由：${text}`, "监督批准前这些席位不算评标委员会成员；监督驳回则席位空出，须抽取或重新申请。"] });
    if (ok) await command({ command: "designate_experts", reason: text }, "已提交指定专家申请，等待监督审批");
  }

  function render() {
    const s = session;
    const st = designationStatus(s, decision);
    // The primary's own proposal: other venues follow the committee in its table.
    card.hidden = !primary || (s.state !== "drawing" && st.status === "none");
    const open = primary && s.state === "drawing" && st.status !== "requested" && (drawPhase === null || drawPhase === "none");
    const proposed = s.seats.filter((x) => x.source === "proposed");
    const free = s.seats.filter((x) => !x.source || x.source === "proposed");
    const k = JSON.stringify([card.hidden, st, requestReason, open, s.seats.map((x) => [x.source, x.expert_name])]);
    if (card.hidden || k === key) return;
    key = k;
    const parts = [el("h2", { id: "dsg-h" }, "招标人指定专家（第10条）")];
    if (st.status !== "none") {
      parts.push(el("p", { id: "dsg-status", role: "status", class: st.status === "rejected" ? "flag" : st.status === "approved" ? "ok-text" : "" },
        `指定申请状态：${STATUS_ZH[st.status]}`));
      parts.push(el("p", {}, `指定席位：${who(s, st.seats)}`));
      if (st.status === "requested") parts.push(el("p", {}, `申请理由：${requestReason || "（见事件记录）"}`));
      else parts.push(el("p", { id: "dsg-opinion" }, `监督意见：${st.reason || "（见事件记录）"}`));
      if (st.status === "rejected") parts.push(el("p", { class: "muted" }, "被驳回的席位已空出，可以重新提议并申请，或通过抽取产生专家。"));
    }
    if (open && free.length) {
      parts.push(el("p", { class: "muted" }, "特殊项目经监督批准可由招标人直接指定专家：逐席提议专家，再填写理由提交申请。"),
        labelled("dsg-seat", "席位", el("select", { id: "dsg-seat", "aria-describedby": "dsg-seat-err" },
          free.map((x) => el("option", { value: String(x.index) }, `${seatLabel(x.index)}（${venueLabel(s, x.venue_id)}）${x.expert_name ? ` · 已提议 ${x.expert_name}` : ""}`)))),
        labelled("dsg-expert-id", "专家库编号", el("input", { id: "dsg-expert-id", autocomplete: "off", "aria-describedby": "dsg-expert-id-hint dsg-expert-id-err" }),
          "专家在专家库中的编号（由监督或专家库管理机构提供）"),
        labelled("dsg-expert-name", "专家姓名", el("input", { id: "dsg-expert-name", autocomplete: "off", "aria-describedby": "dsg-expert-name-err" })),
        el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: propose }, "提议该席位的指定专家")));
    }
    if (open && proposed.length) {
      parts.push(el("h3", {}, "已提议、尚未提交的席位"),
        el("ul", { id: "dsg-proposed" }, proposed.map((x) => el("li", {}, `${seatLabel(x.index)}（${venueLabel(s, x.venue_id)}）${x.expert_name || ""}`))),
        labelled("dsg-reason", "申请理由", el("textarea", { id: "dsg-reason", rows: "2", maxlength: String(REASON_MAX), "aria-describedby": "dsg-reason-err" })),
        el("div", { class: "actions" }, el("button", { type: "button", onclick: submit }, "提交指定专家申请")));
    }
    card.replaceChildren(...parts);
  }

  function update(s, opts) {
    session = s;
    primary = opts.primary;
    drawPhase = opts.drawPhase ?? null;
    render();
  }

  return { card, update };
}
