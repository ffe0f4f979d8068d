// evalsvc browser client: no build step. Chinese UI text, English names in code.
"use strict";

const STATE_ZH = {
  draft: "草稿", drawing: "抽取专家中", ready: "专家已确定", checking_in: "签到中",
  evaluating: "评审中", aggregating: "汇总中", reporting: "评标报告", sealed: "已封存",
  paused: "已暂停", aborted: "已终止",
};
const STAGE_ZH = { qualification: "资格审查", scoring: "详细评审（评分）" };
const METHOD_ZH = { weighted_scoring: "综合评估法", lowest_evaluated_price: "经评审的最低投标价法" };
const CATEGORY_ZH = { qualification: "资格（通过/不通过）", technical: "技术", commercial: "商务", price: "价格" };
const ROLE_ZH = { operator: "操作员", expert: "专家", supervisor: "监督" };
const ERROR_ZH = {
  invalid_input: "输入有误", malformed_body: "请求格式错误", unsupported_media_type: "内容类型错误",
  payload_too_large: "内容过大", unauthenticated: "未登录或令牌无效", token_revoked: "令牌已被吊销", forbidden: "无权操作",
  not_found: "未找到", invalid_transition: "当前状态不允许此操作", conflict: "操作冲突",
  idempotency_conflict: "重复提交的内容不一致", unavailable: "服务暂不可用", internal_error: "服务器内部错误",
};
const EVENT_ZH = {
  "session.created": "登记项目", "bid.added": "登记投标", "criterion.added": "添加评分项",
  "session.state_changed": "状态变更", "seat.assigned": "专家入席", "expert.checked_in": "专家签到",
  "sheet.submitted": "提交评审表", "stage.locked": "阶段锁定", "deviation.explained": "偏离说明",
  "dissent.recorded": "记录不同意见", "report.signed": "签署评标报告",
  "report.signatures_cleared": "报告签名作废", "auth.login": "证书登录", "pki.trust_loaded": "加载信任根",
  "pledge.accepted": "签署承诺书", "interests.declared": "回避声明", "seat.vacated": "席位空出（回避）",
  "election.opened": "推选组长：开始投票", "vote.cast": "投票（密封）", "election.round_closed": "本轮计票",
  "leader.elected": "组长当选", "report.refusal_recorded": "记录拒签", "report.deemed_agreed": "视为同意",
  "invitation.recused": "回避", "invitation.sent": "邀请专家",
  "rereview.requested": "申请复核", "rereview.approved": "批准复核", "rereview.rejected": "驳回复核",
  "pool.evaluations_recorded": "专家库记录本次评标",
  "clarification.requested": "要求投标人澄清", "clarification.answered": "录入澄清答复",
  "handover.recorded": "副场登记材料移交", "handover.acknowledged": "主场确认接收移交",
  "handover.overdue": "移交逾期预警",
  "alerts.checked": "预警检查",
};
// Check points of the pattern alerts (docs/alerts.md).
const POINT_ZH = { bids: "投标文件", qualification: "资格审查", scoring: "详细评审", report: "评标报告" };
const alertSubject = (a) => {
  const s = a.subject || {};
  if (s.seats) return `席位 ${s.seats.join("、")}${s.bids ? ` · 投标 ${s.bids.join("、")}` : ""}`;
  return s.bids ? `投标 ${s.bids.join("、")}` : "";
};
// Primary-operator commands offered per state.
const NEXT = {
  draft: [["open_draw", "开始抽取专家"]],
  drawing: [["complete_draw", "确认委员会"]],
  ready: [["start_check_in", "开始签到"]],
  checking_in: [["open_election", "开始推选组长"], ["close_round", "结束本轮投票并计票"],
    ["start_evaluation", "开始评审"]],
  "evaluating/qualification": [["lock_qualification", "锁定资格审查"]],
  "evaluating/scoring": [["lock_scoring", "锁定评分"]],
  aggregating: [["start_report", "生成评标报告"]],
  reporting: [["seal", "封存"]],
};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") n.addEventListener("click", v);
    else if (v !== undefined && v !== null) n.setAttribute(k, v);
  }
  for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return n;
};
const yuan = (fen) => (fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2 });

let token = "";
let me = null;
let current = null; // the open session document
let lastSeq = 0;
let polling = 0;

class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
}

async function api(method, path, body, headers = {}) {
  const h = { Authorization: `Bearer ${token}`, ...headers };
  const init = { method, headers: h };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = (r.headers.get("Content-Type") || "").includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(typeof data === "object" ? data : { detail: String(data), code: "internal_error" });
  return data;
}

function show(message, ok = false) {
  const b = $("banner");
  b.hidden = !message;
  b.className = ok ? "banner ok" : "banner";
  b.textContent = message || "";
}

function explain(err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    const title = ERROR_ZH[p.code] || p.title || "错误";
    const field = p.field ? `（字段 ${p.field}）` : "";
    return `${title}${field}：${p.detail}`;
  }
  return `网络错误：${err.message}`;
}

async function guarded(fn) {
  try {
    show("");
    await fn();
  } catch (err) {
    show(explain(err));
  }
}

async function login(t) {
  token = t.trim();
  me = await api("GET", "/api/me");
  sessionStorage.setItem("evalsvc.token", token);
  $("who").textContent = `${me.name}（${ROLE_ZH[me.role]}${me.venue ? " · " + me.venue : ""}）`;
  $("login").hidden = true;
  await listSessions();
}

async function listSessions() {
  const data = await api("GET", "/api/sessions");
  const tbody = $("session-list");
  tbody.replaceChildren();
  for (const s of data.sessions) {
    const label = STATE_ZH[s.state] + (s.stage ? ` · ${STAGE_ZH[s.stage]}` : "");
    const tr = el("tr", { class: "clickable", onclick: () => guarded(() => openSession(s.id)) },
      el("td", {}, s.title), el("td", {}, label), el("td", {}, s.primary_venue), el("td", {}, s.last_seq));
    tbody.append(tr);
  }
  $("sessions").hidden = false;
  // One session, or one still running beside sealed or aborted ones (the demo seals a
  // second tender for supervisors): open it; the list stays for the others.
  const running = data.sessions.filter((s) => s.state !== "sealed" && s.state !== "aborted");
  if (data.sessions.length === 1) await openSession(data.sessions[0].id);
  else if (running.length === 1) await openSession(running[0].id);
}

async function openSession(id) {
  current = await api("GET", `/api/sessions/${id}`);
  lastSeq = 0;
  $("events").replaceChildren();
  $("session").hidden = false;
  await refresh();
  startPolling(id);
}

async function refresh() {
  const id = current.id;
  current = await api("GET", `/api/sessions/${id}`);
  const s = current;
  const label = s.state === "evaluating" ? `评审中 · ${STAGE_ZH[s.stage]}` : STATE_ZH[s.state];
  $("s-title").textContent = s.title;
  $("s-state").textContent = label + (s.paused ? `（${s.paused.reason}）` : "");
  $("s-method").textContent = METHOD_ZH[s.method];
  $("s-tenderer").textContent = s.tenderer;
  const progress = await api("GET", `/api/sessions/${id}/progress`);
  renderSeats(s, progress);
  renderBids(s);
  renderActions(s);
  renderSheet(s, progress);
  await renderResult(s);
}

function venueName(s, vid) {
  const v = s.venues.find((x) => x.id === vid);
  return v ? `${v.city}${v.primary ? "（主场）" : "（副场）"}` : vid;
}

function renderSeats(s, progress) {
  const tbody = $("seats");
  tbody.replaceChildren();
  for (const seat of s.seats) {
    const p = progress.seats.find((x) => x.seat === seat.index) || { versions: {} };
    const name = seat.masked ? el("span", { class: "masked" }, "（不可见）") : (seat.expert_name || "—");
    const mark = (n) => (n ? `✔ v${n}` : "—");
    const action = el("td");
    if (me.role === "operator" && me.venue === seat.venue_id && s.state === "checking_in" && !seat.checked_in) {
      action.append(el("button", { onclick: () => command({ command: "check_in", seat: seat.index }) }, "签到"));
    }
    tbody.append(el("tr", {}, el("td", {}, seat.index), el("td", {}, venueName(s, seat.venue_id)),
      el("td", {}, name), el("td", {}, seat.checked_in ? "✔" : "—"),
      el("td", {}, mark(p.versions.qualification)), el("td", {}, mark(p.versions.scoring)), action));
  }
}

function renderBids(s) {
  const qualified = s.qualified ? new Set(s.qualified) : null;
  $("bids").replaceChildren(...s.bids.map((b) => el("tr", {},
    el("td", {}, b.id),
    el("td", {}, b.bidder, qualified && !qualified.has(b.id) ? el("span", { class: "flag" }, "（资格审查未通过）") : ""),
    el("td", {}, b.uscc), el("td", { class: "num" }, yuan(b.price_fen)))));
  $("criteria").replaceChildren(...s.criteria.map((c) => el("tr", {},
    el("td", {}, c.id), el("td", {}, c.name), el("td", {}, CATEGORY_ZH[c.category]),
    el("td", { class: "num" }, c.category === "qualification" ? "—" : c.max_points))));
}

function renderActions(s) {
  const box = $("actions");
  box.replaceChildren();
  const where = s.state === "evaluating" ? `evaluating/${s.stage}` : s.state;
  const primaryOp = me.role === "operator" && me.venue === s.venues.find((v) => v.primary).id;
  if (primaryOp) {
    for (const [name, label] of NEXT[where] || []) {
      box.append(el("button", { onclick: () => command({ command: name }) }, label));
    }
    if (s.state === "paused") box.append(el("button", { onclick: () => command({ command: "resume" }) }, "恢复"));
  }
  const canPause = me.role === "supervisor" || me.role === "operator";
  const active = ["drawing", "ready", "checking_in", "evaluating", "aggregating", "reporting"].includes(s.state);
  if (canPause && active) {
    box.append(el("button", { class: "secondary", onclick: () => {
      const reason = prompt("暂停原因（例如：副场网络中断）");
      if (reason) command({ command: "pause", reason });
    } }, "暂停"));
  }
  if (me.role === "expert" && s.state === "reporting" && !s.signed.includes(s.you.seat)) {
    box.append(el("button", { onclick: () => guarded(async () => {
      // Sign what was read: the server refuses if the report changed in between.
      const r = await api("GET", `/api/sessions/${current.id}/report`);
      const first = r.report.result.ranking[0];
      const lead = first ? `第一名 ${first.bid_id}（${first.total} 分）` : "";
      const dissents = r.report.dissents.length;
      if (!confirm(`签署评标报告？\n${lead}，不同意见 ${dissents} 条\n报告摘要 SHA-256：${r.sha256}`)) return;
      await command({ command: "sign_report", report_sha256: r.sha256 });
    }) }, "签署评标报告"));
    box.append(el("button", { class: "secondary", onclick: () => {
      const text = prompt("不同意见（将记录在评标报告中）");
      if (text) command({ command: "record_dissent", text });
    } }, "记录不同意见"));
  }
  // The report (评标报告): the draft to members and supervisors, everyone's after the seal.
  const reportState = s.state === "paused" ? s.paused.from_state : s.state;
  if (reportState === "sealed" || (reportState === "reporting" && me.role !== "operator")) {
    const draft = reportState === "sealed" ? "" : "草稿";
    box.append(el("button", { class: "secondary", onclick: () => openReport("html") }, `查看评标报告${draft}`));
    box.append(el("button", { class: "secondary", onclick: () => openReport("pdf") }, `评标报告${draft} PDF`));
  }
  const own = s.seats.find((x) => x.index === s.you.seat);
  if (me.role === "expert" && s.state === "checking_in" && own && own.checked_in) {
    if (!own.pledged) {
      box.append(el("button", { onclick: () => guarded(async () => {
        const p = await api("GET", `/api/sessions/${current.id}/pledge`);
        if (!confirm(`${p.text}\n版本 ${p.version}，SHA-256 ${p.sha256}\n\n本人已阅读并承诺遵守。`)) return;
        await command({ command: "accept_pledge", sha256: p.sha256 });
      }) }, "阅读并签署承诺书"));
    } else if (!own.declared) {
      box.append(el("button", { onclick: () => {
        // 回避声明: bid by bidder; a reason given means a conflict (the seat is vacated).
        const declarations = [];
        for (const b of s.bidders || []) {
          const reason = prompt(`与投标人「${b.bidder}」是否存在利害关系？\n存在请填写原因（将回避并由候补专家替补），不存在请留空。`);
          if (reason === null) return;
          declarations.push(reason.trim() ? { bid_id: b.id, conflict: true, reason: reason.trim() }
            : { bid_id: b.id, conflict: false });
        }
        command({ command: "declare_interests", declarations });
      } }, "回避声明"));
    }
    const el_ = s.election;
    if (el_ && own.declared && !el_.ballots.some((b) => b.seat === own.index)) {
      for (const c of el_.candidates) {
        box.append(el("button", { onclick: () => command({ command: "cast_vote", candidate: c }) },
          `第 ${el_.round} 轮：推选席位 ${c}`));
      }
      box.append(el("button", { class: "secondary", onclick: () => command({ command: "cast_vote", candidate: null }) }, "弃权"));
    }
  }
  if (s.state === "reporting" && s.sign_deadline && Date.now() / 1000 >= s.sign_deadline) {
    const leader = me.role === "expert" && own && s.leader === own.index;
    if (leader || primaryOp) {
      for (const seat of s.seats) {
        const i = seat.index;
        if (s.signed.includes(i) || s.deemed.includes(i) || s.refusals.some(([a]) => a === i)) continue;
        box.append(el("button", { class: "secondary", onclick: () => {
          const note = prompt(`席位 ${i} 既未签字也未陈述不同意见：评标委员会书面记录（第43条）`);
          if (note) command({ command: "record_refusal", seat: i, note });
        } }, `记录席位 ${i} 拒签`));
      }
    }
  }
  const isLeader = me.role === "expert" && own && s.leader === own.index;
  if (isLeader && ["aggregating", "reporting"].includes(s.state) && !s.rereview) {
    box.append(el("button", { class: "secondary", onclick: () => {
      const seats = prompt("需复核的席位（以逗号分隔，例如 2,5）");
      if (!seats) return;
      const reason = prompt("复核原因（如：分值汇总错误、客观分评分不一致）");
      if (reason) command({ command: "request_rereview", seats: seats.split(/[,，\s]+/).filter(Boolean).map(Number), reason });
    } }, "申请复核"));
  }
  if (isLeader && ["evaluating", "aggregating"].includes(s.state)) {
    box.append(el("button", { class: "secondary", onclick: () => {
      const bid = prompt(`要求澄清的投标（${s.bids.map((b) => `${b.id} ${b.bidder}`).join("，")}），请填写投标编号`);
      if (!bid) return;
      const question = prompt("澄清、说明或补正的问题（书面，不得超出投标文件范围）");
      if (question) command({ command: "request_clarification", bid_id: bid.trim(), question });
    } }, "要求投标人澄清"));
  }
  if (primaryOp && ["evaluating", "aggregating"].includes(s.state)) {
    (s.clarifications || []).forEach((c, i) => {
      if (c.answer !== null) return;
      box.append(el("button", { class: "secondary", onclick: () => {
        const answer = prompt(`第 ${i + 1} 项 · ${c.bidder}：${c.question}\n投标人的书面答复`);
        if (!answer) return;
        const sha = prompt("答复附件的 SHA-256（64 位十六进制）");
        if (sha) command({ command: "record_clarification_answer", id: i + 1, answer, attachment_sha256: sha.trim() });
      } }, `录入第 ${i + 1} 项澄清答复`));
    });
  }
  if (s.state === "sealed" && me.role === "operator") {
    const mine = (s.handovers || []).find((h) => h.venue_id === me.venue);
    if (!primaryOp && !(mine && mine.recorded_at) && s.handover_items) {
      box.append(el("button", { onclick: () => {
        const items = [];
        for (const item of s.handover_items) {
          if (!confirm(`确认已移交「${item}」？`)) return;
          items.push({ item, confirmed: true });
        }
        command({ command: "record_handover", items });
      } }, "登记材料移交"));
    }
    if (primaryOp) {
      for (const h of s.handovers || []) {
        if (!h.recorded_at || h.acknowledged_at) continue;
        box.append(el("button", { onclick: () => command({ command: "acknowledge_handover", venue_id: h.venue_id }) },
          `确认接收 ${h.venue_id} 的移交`));
      }
    }
  }
  if (me.role === "supervisor" && s.rereview && !s.rereview.approved) {
    for (const [approve, label] of [[true, "批准复核"], [false, "驳回复核"]]) {
      box.append(el("button", { class: approve ? "" : "secondary", onclick: () => {
        const reason = prompt(`${label}：席位 ${s.rereview.seats.join("、")}，原因：${s.rereview.reason}\n请填写意见`);
        if (reason) command({ command: "decide_rereview", approve, reason });
      } }, label));
    }
  }
  if (me.role === "supervisor" && s.state === "reporting") {
    for (const [i, note] of s.refusals) {
      if (s.deemed.includes(i)) continue;
      box.append(el("button", { onclick: () => {
        if (confirm(`确认席位 ${i} 视为同意评标结果？\n委员会记录：${note}`)) command({ command: "confirm_deemed_agreement", seat: i });
      } }, `确认席位 ${i} 视为同意`));
    }
  }
  if (me.role === "expert" && s.state === "aggregating") {
    for (const [seat, bid] of s.pending_explanations) {
      if (seat !== s.you.seat) continue;
      box.append(el("button", { onclick: () => {
        const text = prompt(`您对 ${bid} 的评分偏离委员会平均值，请说明理由`);
        if (text) command({ command: "explain_deviation", bid_id: bid, text });
      } }, `说明 ${bid} 的评分偏离`));
    }
  }
}

// Fetched with the bearer token (a plain link would carry none) and opened as a blob.
async function openReport(kind) {
  await guarded(async () => {
    const r = await fetch(`/api/sessions/${current.id}/report.${kind}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (!r.ok) throw new ApiError(await r.json());
    let blob = await r.blob();
    if (kind === "html") {
      // A blob document resolves no relative URL (and the CSP forbids <base>): make the
      // stylesheet's link absolute.
      const text = (await blob.text()).replace('href="/static/', `href="${location.origin}/static/`);
      blob = new Blob([text], { type: "text/html" });
    }
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: kind === "pdf" ? `评标报告-${current.id}.pdf` : undefined,
      target: "_blank", rel: "noopener" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
}

async function command(body) {
  await guarded(async () => {
    const r = await api("POST", `/api/sessions/${current.id}/commands`, body);
    show(`已执行（事件 #${r.seq}）`, true);
    await refresh();
  });
}

function renderSheet(s, progress) {
  const card = $("sheet-card");
  card.hidden = !(me.role === "expert" && s.state === "evaluating");
  if (card.hidden) return;
  const stage = s.stage;
  $("sheet-stage").textContent = STAGE_ZH[stage];
  const last = [...progress.own_sheets].reverse().find((x) => x.stage === stage);
  const prev = last ? last.sheet.bids : {};
  const bids = stage === "qualification" ? s.bids : s.bids.filter((b) => !s.qualified || s.qualified.includes(b.id));
  const table = $("sheet-table");
  table.replaceChildren();
  if (stage === "qualification") {
    const crits = s.criteria.filter((c) => c.category === "qualification");
    table.append(el("tr", {}, el("th", {}, "投标"), ...crits.map((c) => el("th", {}, c.name))));
    for (const b of bids) {
      table.append(el("tr", {}, el("td", {}, `${b.id} ${b.bidder}`), ...crits.map((c) => {
        const box = el("input", { type: "checkbox", "data-bid": b.id, "data-crit": c.id, "aria-label": `${b.id} ${c.name}` });
        box.checked = prev[b.id] ? prev[b.id][c.id] !== false : true;
        return el("td", {}, box, " 通过");
      })));
    }
  } else if (s.method === "weighted_scoring") {
    const crits = s.criteria.filter((c) => c.category === "technical" || c.category === "commercial");
    table.append(el("tr", {}, el("th", {}, "投标"), ...crits.map((c) => el("th", {}, `${c.name}（0–${c.max_points}）`))));
    for (const b of bids) {
      table.append(el("tr", {}, el("td", {}, `${b.id} ${b.bidder}`), ...crits.map((c) => {
        const input = el("input", { class: "score", type: "number", min: "0", max: c.max_points,
          step: s.rules.step, "data-bid": b.id, "data-crit": c.id, "aria-label": `${b.id} ${c.name}`, required: "" });
        if (prev[b.id]) input.value = prev[b.id][c.id];
        return el("td", {}, input);
      })));
    }
  } else {
    table.append(el("tr", {}, el("th", {}, "投标"), el("th", {}, "实质性响应"), el("th", {}, "价格调整（元）")));
    for (const b of bids) {
      const resp = el("input", { type: "checkbox", "data-bid": b.id, "data-crit": "responsive" });
      resp.checked = prev[b.id] ? prev[b.id].responsive : true;
      const adj = el("input", { class: "score", type: "number", step: "0.01", "data-bid": b.id, "data-crit": "adjustment" });
      adj.value = prev[b.id] ? prev[b.id].adjustment_fen / 100 : 0;
      table.append(el("tr", {}, el("td", {}, `${b.id} ${b.bidder}`), el("td", {}, resp), el("td", {}, adj)));
    }
  }
  $("sheet-status").textContent = last ? `已提交第 ${last.version} 版，可修改后重新提交` : "尚未提交";
}

function collectSheet() {
  const stage = current.stage;
  const bids = {};
  for (const input of $("sheet-table").querySelectorAll("input")) {
    const b = input.dataset.bid;
    bids[b] = bids[b] || {};
    input.classList.remove("invalid");
    if (stage === "qualification") bids[b][input.dataset.crit] = input.checked;
    else if (input.dataset.crit === "responsive") bids[b].responsive = input.checked;
    else if (input.dataset.crit === "adjustment") bids[b].adjustment_fen = Math.round(Number(input.value || 0) * 100);
    else bids[b][input.dataset.crit] = input.value; // sent as a decimal string: no binary floats
  }
  return { stage, bids };
}

$("sheet-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const key = `web-${crypto.randomUUID()}`;
    try {
      const r = await api("POST", `/api/sessions/${current.id}/sheets`, collectSheet(), { "Idempotency-Key": key });
      show(`评审表已保存（第 ${r.version} 版，事件 #${r.seq}，摘要 ${r.sha256.slice(0, 12)}…）`, true);
    } catch (err) {
      const field = err.problem && err.problem.field;
      if (field) {
        const [, bid, crit] = field.split("/");
        const bad = $("sheet-table").querySelector(`input[data-bid="${bid}"][data-crit="${crit}"]`);
        if (bad) bad.classList.add("invalid");
      }
      throw err;
    }
    await refresh();
  });
});

// docs/scoring.md "Price formulas".
const FORMULA_ZH = {
  lowest_price_ratio: "低价优先法（最低有效报价为评标基准价）", average_benchmark: "评标基准价法",
  lowest_evaluated_price: "经评审的最低投标价法",
};

async function renderResult(s) {
  const card = $("result-card");
  const shown = ["aggregating", "reporting", "sealed"].includes(s.state) ||
    (s.state === "paused" && ["aggregating", "reporting", "sealed"].includes(s.paused.from_state));
  card.hidden = !shown;
  if (!shown) return;
  const agg = await api("GET", `/api/sessions/${s.id}/aggregation`);
  const lep = agg.method === "lowest_evaluated_price";
  $("result-head").replaceChildren(el("tr", {}, el("th", {}, "名次"), el("th", {}, "投标人"),
    ...(lep ? [el("th", { class: "num" }, "评审价（元）")] :
      [el("th", { class: "num" }, "技术"), el("th", { class: "num" }, "商务"), el("th", { class: "num" }, "价格"),
        el("th", { class: "num" }, "总分")]),
    el("th", { class: "num" }, "报价（元）")));
  $("result").replaceChildren(...agg.ranking.map((r) => el("tr", {},
    el("td", {}, r.rank, r.tie_unresolved ? el("span", { class: "flag" }, " 并列") : ""), el("td", {}, r.bidder),
    ...(lep ? [el("td", { class: "num" }, yuan(r.evaluated_price_fen))] :
      [el("td", { class: "num" }, r.technical), el("td", { class: "num" }, r.commercial),
        el("td", { class: "num" }, r.price_score), el("td", { class: "num" }, el("strong", {}, r.total))]),
    el("td", { class: "num" }, yuan(r.price_fen)))));
  const basis = agg.price_basis || [];
  $("price-basis").textContent = lep ? `评标方法：${FORMULA_ZH.lowest_evaluated_price}` :
    "价格分：" + (basis.length ? basis.map((b) =>
      `${FORMULA_ZH[b.formula] || b.formula}，评标基准价 ${yuan(b.benchmark_fen)} 元`).join("；") :
      FORMULA_ZH[s.rules.price_formula] || s.rules.price_formula);
  const dev = $("deviations");
  dev.replaceChildren();
  if (agg.deviations.length) {
    dev.append(el("h3", {}, "偏离度提示（超过委员会平均值 ±", String(Number(s.rules.deviation_share) * 100), "%）"));
    for (const d of agg.deviations) {
      const explained = agg.explanations.find((e) => e.seat === d.seat && e.bid_id === d.bid_id);
      dev.append(el("p", {}, `席位 ${d.seat} 对 ${d.bid_id}：${d.expert_total} 分，平均 ${d.committee_mean} 分（偏离 ${(Number(d.share) * 100).toFixed(1)}%）`,
        explained ? ` — 说明：${explained.text}` : el("span", { class: "flag" }, " — 待说明")));
    }
  }
  for (const d of agg.dissents) dev.append(el("p", {}, `不同意见（席位 ${d.seat}）：${d.text}`));
}

function renderEvent(e) {
  const t = new Date(e.time_ms).toLocaleTimeString("zh-CN");
  let what = EVENT_ZH[e.type] || e.type;
  const p = e.payload;
  // An event whose payload the role may not see (四不知) arrives as {masked: true}.
  if (p.masked && Object.keys(p).length === 1) what += "（不可见）";
  else if (e.type === "session.state_changed") what += `：${p.from} → ${p.to}${p.reason ? `（${p.reason}）` : ""}`;
  else if (e.type === "sheet.submitted") what += `：席位 ${p.seat} · ${STAGE_ZH[p.stage]} · 第 ${p.version} 版`;
  else if (e.type === "seat.assigned") what += `：席位 ${p.seat}${p.masked ? "（身份不可见）" : ` · ${p.expert_name}`}`;
  else if (e.type === "expert.checked_in") what += `：席位 ${p.seat}`;
  else if (e.type === "bid.added") what += `：${p.bid.id} ${p.bid.bidder}`;
  else if (e.type === "report.signed") what += `：席位 ${p.seat}${p.signature || p.signed ? "（数字签名）" : ""}`;
  else if (e.type === "pledge.accepted") what += `：席位 ${p.seat} · 版本 ${p.version}`;
  else if (e.type === "interests.declared") what += `：席位 ${p.seat} · ${p.conflict ? `存在利害关系（${p.conflicts.map((c) => c.bid_id).join("、")}）` : "无利害关系"}`;
  else if (e.type === "seat.vacated") what += `：席位 ${p.seat}，待候补专家替补`;
  else if (e.type === "election.opened") what += `：第 ${p.round} 轮，候选席位 ${p.candidates.join("、")}${p.runoff ? "（前两名决选）" : ""}`;
  else if (e.type === "vote.cast") what += `：第 ${p.round} 轮 · 席位 ${p.seat}`;
  else if (e.type === "election.round_closed") what += `：第 ${p.round} 轮 · ${Object.entries(p.tally).map(([k, v]) => `席位${k} ${v} 票`).join("，")}，弃权 ${p.blank}`;
  else if (e.type === "leader.elected") what += `：席位 ${p.seat}（${{ majority: "过半数", runoff: "决选", lot: "抽签" }[p.by]}）`;
  else if (e.type === "report.refusal_recorded" || e.type === "report.deemed_agreed") what += `：席位 ${p.seat} · ${p.note}`;
  else if (e.type.startsWith("rereview.")) what += `：席位 ${p.seats.join("、")} · ${p.reason}`;
  else if (e.type === "clarification.requested") what += `：第 ${p.id} 项 · ${p.bidder} · ${p.question}`;
  else if (e.type === "clarification.answered") what += `：第 ${p.id} 项 · ${p.answer} · 附件 SHA-256 ${p.attachment_sha256}`;
  else if (e.type === "handover.recorded" || e.type === "handover.acknowledged") what += `：${p.venue_id} · ${p.items.join("、")}`;
  else if (e.type === "handover.overdue" && !p.masked) what += `：${p.venues.map((v) => `${v.venue_id}（${v.missing === "handover" ? "未登记移交" : "未确认接收"}）`).join("、")}`;
  else if (e.type === "report.signatures_cleared") what += `：席位 ${p.by_seat} 新增不同意见，席位 ${p.seats.join("、")} 需重新签署`;
  let alert = "";
  if (e.type === "alerts.checked") {
    // Supervisors only: every other role receives {"masked": true} (docs/alerts.md).
    if (p.masked) what += "（仅监督可见）";
    else {
      what += `：${POINT_ZH[p.point] || p.point} · ${p.alerts.length} 条预警`;
      if (p.alerts.length) alert = p.alerts.map((a) => `${a.title}（${alertSubject(a)}）`).join("；");
    }
  }
  if (e.type === "auth.login") {
    what += `：${p.role === "expert" ? `席位 ${p.seat}` : p.venue_id} · ${p.region} · ${p.algorithm}`;
    // Soft-fail revocation: the login went ahead without a fresh CRL; supervisors must know.
    if ((p.revocation_warnings || []).length) alert = `吊销状态未能确认：${p.revocation_warnings.join("；")}`;
  }
  $("events").prepend(el("li", { value: e.seq }, `${t} ${what}`, alert ? el("span", { class: "flag" }, ` — ${alert}`) : ""));
  if (alert && me.role === "supervisor") show(`监督提醒（事件 #${e.seq}）${alert}`);
}

function startPolling(id) {
  const mine = ++polling;
  (async () => {
    while (mine === polling) {
      try {
        const page = await api("GET", `/api/sessions/${id}/events?after=${lastSeq}&wait=25&limit=500`);
        $("live").className = "live";
        $("live").textContent = "实时";
        if (page.events.length) {
          page.events.forEach(renderEvent);
          lastSeq = page.events[page.events.length - 1].seq;
          if (lastSeq >= page.last_seq) await refresh();
        }
      } catch (err) {
        $("live").className = "live off";
        $("live").textContent = "连接中断，重试中…";
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(() => login($("token").value));
});

// A token in the URL fragment (#token=…) never reaches server logs; keep it in this tab only.
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
const saved = fromHash || sessionStorage.getItem("evalsvc.token");
if (fromHash) history.replaceState(null, "", location.pathname);
if (saved) guarded(() => login(saved));
