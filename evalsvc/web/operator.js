// The operators' workspace. Primary venue: stage control with confirmations that say
// what will happen (blocked steps disabled, with the reason), check-in, live committee
// progress, venue links, pause/resume, the result. Secondary venue: its own seats'
// check-in, link health, pause with a reason — and only what its document shows.

import { get } from "./api.js";
import { confirmDialog, el } from "./dom.js";
import { ERROR_ZH, STAGE_ZH, faultLines, reasonText, seatLabel, venueLabel } from "./i18n.js";
import { committeeTable, stageProgress, venueLinks } from "./committee.js";
import { designationCard } from "./designation.js";
import { drawCard } from "./draw.js";
import { handoverCard } from "./handover.js";
import { resultCard } from "./results.js";
import { commandSender, committeeReadiness, electionLine, pauseWithReason, refusalCard, reportButtons } from "./steps.js";

const seats = (list) => list.map(seatLabel).join("、");

/** The next step of the primary operator in this state: [command, label, lines, blocked]. */
export function nextSteps(s, progress) {
  const missing = (stage) => (progress ? progress.seats.filter((x) => !x.versions[stage]).map((x) => x.seat) : []);
  const where = s.state === "evaluating" ? `evaluating/${s.stage}` : s.state;
  switch (where) {
    case "draft": {
      // 招标投标法 第三十七条: five or more, an odd number (the server refuses otherwise).
      const n = s.seats.length;
      return [["open_draw", "开始抽取专家", ["将开始专家抽取仪式：各场地和监督提交随机数承诺并公开后，按公开算法抽取评标委员会。", "开始后不能再修改投标和评分项。"],
        n < 5 || n % 2 === 0 ? `评标委员会须为 5 人以上的单数，当前 ${n} 席` : null]];
    }
    case "drawing":
      return []; // the committee is settled by the last acceptance (see the draw card)
    case "ready":
      return [["start_check_in", "开始签到", ["各场地开始为到场专家签到。"], null]];
    case "checking_in": {
      // 暂行规定 第13条: the members elect their leader once all have pledged and declared.
      const ready = committeeReadiness(s);
      const e = s.election;
      const hasLeader = s.leader !== null && s.leader !== undefined;
      const steps = [];
      if (!hasLeader && !e) {
        steps.push(["open_election", "开始推选组长", ["将开始推选评标委员会组长：每位委员投一张密封选票（可弃权），候选人为各席位。", "过半数当选；否则前两名进入决选，决选平票时抽签。"],
          ready || null]);
      } else if (!hasLeader) {
        const missing = s.seats.length - e.ballots.length;
        steps.push(["close_round", "结束本轮投票并计票", [`将结束第 ${e.round} 轮投票，公开全部选票并计票。`, "公开后任何人都可以核对每张选票与投票时的密封承诺一致。"],
          missing > 0 ? `尚有 ${missing} 席未投票` : null]);
      }
      steps.push(["start_evaluation", "开始评审", ["将开始资格审查；专家可在各自席位填写评审表。", "开始后不能再签到新专家。"],
        ready || (hasLeader ? null : "尚未推选评标委员会组长")]);
      return steps;
    }
    case "evaluating/qualification": {
      const m = missing("qualification");
      return [["lock_qualification", "锁定资格审查", ["将锁定资格审查并开启全部评审表，按多数意见确定通过资格审查的投标，进入详细评审。", "锁定后专家不能再修改资格审查表。"],
        m.length ? `${seats(m)}尚未提交资格审查表` : null]];
    }
    case "evaluating/compliance": {
      const m = missing("compliance");
      return [["lock_compliance", "锁定符合性审查", ["将锁定符合性审查并开启全部审查表，按多数意见确定通过符合性审查的投标，未通过的投标不再进入详细评审。", "锁定后专家不能再修改符合性审查表。"],
        m.length ? `${seats(m)}尚未提交符合性审查表` : null]];
    }
    case "evaluating/technical": {
      const m = missing("technical");
      return [["lock_technical", "锁定技术评审", ["将锁定技术评审并开启全部技术评分表；暗标项目同时公开暗标编号与投标人的对应关系。", "锁定后专家不能再修改技术评分，进入商务评审。"],
        m.length ? `${seats(m)}尚未提交技术评分表` : null]];
    }
    case "evaluating/commercial": {
      const m = missing("commercial");
      return [["lock_commercial", "锁定商务评审", ["将锁定商务评审并开启全部商务评分表，计算委员会汇总结果和排名。", "锁定后专家不能再修改评分。"],
        m.length ? `${seats(m)}尚未提交商务评分表` : null]];
    }
    case "evaluating/scoring": {
      const m = missing("scoring");
      return [["lock_scoring", "锁定评分", ["将锁定详细评审并开启全部评分表，计算委员会汇总结果和排名。", "锁定后专家不能再修改评分。"],
        m.length ? `${seats(m)}尚未提交评分表` : null]];
    }
    case "aggregating": {
      const pending = s.pending_explanations || [];
      return [["start_report", "生成评标报告", ["将按汇总结果生成评标报告，交全体专家阅读和签署。"],
        pending.length ? `尚有 ${pending.length} 项评分偏离未说明` : null]];
    }
    case "reporting": {
      const unsigned = s.seats.filter((x) => !s.signed.includes(x.index)).map((x) => x.index);
      return [["seal", "封存", ["将封存本项目：评标报告和全部记录不可再修改，并写入签名审计日志。"],
        unsigned.length ? `${seats(unsigned)}尚未签署评标报告` : null]];
    }
    default:
      return [];
  }
}

export function mount(ctx) {
  const { client, me, body, showProblem } = ctx;
  const command = commandSender({ client, showProblem, session: () => session });
  let session = null;
  let progress = null;
  let presence = null;

  const control = el("section", { class: "card", "aria-labelledby": "ctl-h" }, el("h2", { id: "ctl-h" }, "流程控制"));
  const committee = el("section", { class: "card", "aria-labelledby": "com-h" }, el("h2", { id: "com-h" }, "评标委员会与进度"));
  const links = el("section", { class: "card", "aria-labelledby": "links-h" }, el("h2", { id: "links-h" }, "场地链路"));
  const result = el("section", { class: "card", "aria-labelledby": "res-h", hidden: true });
  const updateResult = resultCard(result, get, "res-h");
  const draw = drawCard({ me, showProblem });
  // Clarification answers (primary), the handover after the seal (docs/scoring.md).
  const handover = handoverCard({ command });
  // A committee without a draw: the tenderer's designated experts (docs/draw.md §6.7).
  const designation = designationCard({ client, command });
  body.append(control, handover.card, draw.card, designation.card, committee, links, result);

  const primary = () => session && me.venue === session.venues.find((v) => v.primary).id;


  async function step([name, label, lines]) {
    const ok = await confirmDialog({ title: `${label}？`, lines, confirm: `确认${label}` });
    if (ok) await command({ command: name }, `已执行：${label}`);
  }

  const pause = () => pauseWithReason(command);

  async function resume() {
    const ok = await confirmDialog({ title: "恢复评标？", lines: ["各场地将继续评标，专家可以继续提交。"], confirm: "确认恢复" });
    if (ok) await command({ command: "resume" }, "已恢复评标");
  }

  async function checkIn(seat) {
    const ok = await confirmDialog({ title: `为${seatLabel(seat)}签到？`,
      lines: ["请先核对专家本人身份和证件。签到后该专家即可参加评审，签到不能撤回。"], confirm: "确认签到" });
    if (ok) await command({ command: "check_in", seat }, `${seatLabel(seat)}已签到`);
  }

  function renderControl() {
    const s = session;
    const actions = el("div", { class: "actions" });
    const parts = [el("h2", { id: "ctl-h" }, "流程控制"),
      el("p", {}, `本场地：${venueLabel(s, me.venue)}${primary() ? "，负责流程控制" : "，流程由主场控制"}`)];
    if (s.stage) parts.push(el("p", {}, `${STAGE_ZH[s.stage]}：${stageProgress(s, progress)}`));
    if (s.state === "paused") parts.push(el("p", { class: "warning" }, `已暂停：${reasonText(s.paused.reason)}`));
    // Venue link faults by rule (docs/scoring.md "Faults by rule").
    const faults = faultLines(s);
    if (faults.length) parts.push(el("ul", { id: "faults", class: "warning" }, faults.map((x) => el("li", {}, x))));
    const election = electionLine(s, { withSize: true });
    if (election) parts.push(el("p", { id: "election-line" }, election));
    if (s.rereview && !s.rereview.approved) parts.push(el("p", { class: "warning" }, `组长申请复核${seats(s.rereview.seats)}的评分（${s.rereview.reason}），等待监督决定；决定前不能封存。`));
    if (primary()) {
      for (const st of nextSteps(s, progress)) {
        const blocked = st[3];
        const id = `why-${st[0]}`;
        actions.append(el("button", { type: "button", disabled: Boolean(blocked), "aria-describedby": blocked ? id : null,
          onclick: () => step(st) }, st[1]));
        if (blocked) actions.append(el("span", { id, class: "muted" }, `（${blocked}）`));
      }
      if (s.state === "paused") actions.append(el("button", { type: "button", onclick: resume }, "恢复评标"));
    }
    const active = ["drawing", "ready", "checking_in", "evaluating", "aggregating", "reporting"].includes(s.state);
    if (active) actions.append(el("button", { type: "button", class: "secondary", onclick: pause }, "暂停评标"));
    parts.push(actions);
    const files = reportButtons(s, "operator", (err) => showProblem(ERROR_ZH[err.code] || "无法打开评标报告"));
    if (files) parts.push(files);
    // 第43条: the primary operator may record a refusal for the committee, as the leader may.
    const refusals = primary() ? refusalCard(s, { command, later }) : null;
    if (refusals) parts.push(refusals);
    control.replaceChildren(...parts);
  }

  function renderCommittee() {
    const s = session;
    committee.replaceChildren(el("h2", { id: "com-h" }, "评标委员会与进度"), committeeTable(s, progress, presence, {
      canCheckIn: (seat) => s.state === "checking_in" && seat.venue_id === me.venue, checkIn }));
    links.replaceChildren(el("h2", { id: "links-h" }, "场地链路"), venueLinks(s, presence));
  }

  const renderResult = () => updateResult(session);

  let timer = null;
  function later(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (session) renderControl();
    }, Math.min(ms, 2 ** 31 - 1));
  }

  async function update(s) {
    session = s;
    try {
      progress = await get(`/api/sessions/${s.id}/progress`);
    } catch {
      progress = null;
    }
    renderControl();
    handover.update(s, { primary: Boolean(primary()), secondary: !primary(), venue: me.venue });
    renderCommittee();
    const drawPhase = await draw.update(s);
    designation.update(s, { primary: Boolean(primary()), drawPhase });
    await renderResult();
  }

  function onPresence(msg) {
    presence = msg;
    if (session) renderCommittee();
  }

  return { update, presence: onPresence, unmount() {
    if (timer) clearTimeout(timer);
  } };
}
