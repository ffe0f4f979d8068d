// The committee's live progress (operators and supervisors): seats counted from 1,
// venues by city, who has checked in and submitted, who is online (presence), and each
// venue's link. Identities appear only where the server's document shows them.

import { el } from "./dom.js";
import { seatLabel, venueLabel } from "./i18n.js";
import { stagePlan } from "./sheet.js";

// The stage columns' headings (a split session has a column for each of its stages).
const STAGE_HEAD = { qualification: "资格审查", compliance: "符合性审查", scoring: "详细评审", technical: "技术评审", commercial: "商务评审" };

function version(n) {
  return n ? `已提交第 ${n} 版` : "未提交";
}

/** Who is connected now, from the last `presence` message. */
export function onlineIndex(presence) {
  const seats = new Set();
  const venues = new Set();
  for (const c of (presence && presence.connected) || []) {
    if (c.role === "expert" && c.seat !== undefined && c.seat !== null) seats.add(c.seat);
    if (c.role === "operator" && c.venue) venues.add(c.venue);
  }
  return { seats, venues };
}

/**
 * The committee table. `checkIn(seat)` is offered on seats the viewer may check in;
 * `progress` is GET …/progress (may be null).
 */
export function committeeTable(s, progress, presence, { canCheckIn = () => false, checkIn = null } = {}) {
  const online = onlineIndex(presence);
  const plan = stagePlan(s);
  const rows = s.seats.map((seat) => {
    const p = progress ? progress.seats.find((x) => x.seat === seat.index) : null;
    const v = p ? p.versions : {};
    const who = seat.masked ? el("span", { class: "masked" }, "身份不可见") : seat.expert_name || "—";
    const action = el("td");
    if (!seat.checked_in && checkIn && canCheckIn(seat)) {
      action.append(el("button", { type: "button", onclick: () => checkIn(seat.index) }, `为${seatLabel(seat.index)}签到`));
    }
    const leader = s.leader === seat.index ? "（组长）" : "";
    return el("tr", {},
      el("th", { scope: "row" }, seatLabel(seat.index) + leader), el("td", {}, venueLabel(s, seat.venue_id)), el("td", {}, who),
      el("td", {}, seat.checked_in ? "已签到" : "未签到"),
      el("td", {}, seat.declared ? "已承诺 · 已声明" : seat.pledged ? "已承诺 · 未声明" : seat.checked_in ? "未承诺" : "—"),
      el("td", {}, presence ? (online.seats.has(seat.index) ? "在线" : "离线") : "—"),
      ...plan.map((stage) => el("td", {}, version(v[stage]))), action);
  });
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "可横向滚动的表格" }, el("table", { class: "committee" },
    el("caption", {}, "评标委员会"),
    el("thead", {}, el("tr", {}, ...["席位", "场地", "专家", "签到", "承诺书与回避", "在线", ...plan.map((x) => STAGE_HEAD[x]), "操作"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)));
}

/** Each venue's link: is an operator (or its venue agent) of that venue connected now? */
export function venueLinks(s, presence) {
  const online = onlineIndex(presence);
  return el("ul", { class: "links" }, s.venues.map((v) => el("li", {},
    `${venueLabel(s, v.id)} ${v.name}：`,
    presence ? el("span", { class: online.venues.has(v.id) ? "ok-text" : "flag" }, online.venues.has(v.id) ? "链路正常" : "无连接") : "等待连接信息")));
}

/** "已提交 6/7 席" for the current stage. */
export function stageProgress(s, progress) {
  if (!progress || !s.stage) return "";
  const done = progress.seats.filter((x) => x.versions[s.stage]).length;
  return `${done}/${progress.seats.length} 席已提交`;
}
