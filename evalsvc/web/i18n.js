// The one zh-CN dictionary (STYLE.md "The browser client"): every string a person reads
// comes from here, keyed by the codes the server sends. The server's English `detail` is
// for logs; it is never shown.

export const STATE_ZH = {
  draft: "草稿", drawing: "抽取专家中", ready: "专家已确定", checking_in: "签到中",
  evaluating: "评审中", aggregating: "汇总中", reporting: "评标报告", sealed: "已封存",
  paused: "已暂停", aborted: "已终止",
};
export const STAGE_ZH = {
  qualification: "资格审查", compliance: "符合性审查", scoring: "详细评审（评分）",
  technical: "技术评审", commercial: "商务评审",
};
export const METHOD_ZH = { weighted_scoring: "综合评估法", lowest_evaluated_price: "经评审的最低投标价法" };
export const CATEGORY_ZH = {
  qualification: "资格（通过/不通过）", compliance: "符合性（通过/不通过）", technical: "技术", commercial: "商务", price: "价格",
};
export const ROLE_ZH = { operator: "操作员", expert: "专家", supervisor: "监督" };
// docs/scoring.md "Price formulas" (main: formulas14).
export const FORMULA_ZH = {
  lowest_price_ratio: "低价优先法（最低有效报价为评标基准价）", average_benchmark: "评标基准价法",
  lowest_evaluated_price: "经评审的最低投标价法",
};
// Check points of the pattern alerts (docs/alerts.md, main: alerts16).
export const POINT_ZH = { bids: "投标文件", qualification: "资格审查", scoring: "详细评审", report: "评标报告" };
export const REGION_ZH = { SH: "上海", JS: "江苏", ZJ: "浙江", AH: "安徽" };

export const ERROR_ZH = {
  invalid_input: "输入有误", malformed_body: "请求格式错误", unsupported_media_type: "内容类型错误",
  payload_too_large: "内容过大", message_too_large: "内容过大", unauthenticated: "未登录或令牌无效",
  token_revoked: "令牌已被吊销，请重新登录", forbidden: "无权进行此操作", not_found: "未找到该项目或无权查看",
  invalid_transition: "当前状态不允许此操作", conflict: "操作冲突，请刷新后重试",
  idempotency_conflict: "重复提交的内容不一致", unavailable: "服务暂不可用，稍后自动重试",
  internal_error: "服务器内部错误", auth_timeout: "登录超时", slow_consumer: "连接过慢，正在重新同步",
  going_away: "服务器正在重启，正在重新连接", network: "网络中断",
};

export const EVENT_ZH = {
  "session.created": "登记项目", "bid.added": "登记投标", "criterion.added": "添加评分项",
  "session.state_changed": "状态变更", "seat.assigned": "专家入席", "expert.checked_in": "专家签到",
  "sheet.submitted": "提交评审表", "sheets.opened": "评审表开启", "stage.locked": "阶段锁定",
  "deviation.explained": "偏离说明", "dissent.recorded": "记录不同意见", "report.signed": "签署评标报告",
  "report.signatures_cleared": "报告签名作废", "auth.login": "证书登录", "pki.trust_loaded": "加载信任根",
  "draw.opened": "开启抽取仪式", "draw.committed": "提交随机数承诺", "draw.revealed": "公开随机数",
  "draw.seeded": "生成抽取种子", "draw.drawn": "抽取专家", "draw.failed": "抽取失败",
  "draw.seat_exhausted": "候补已用尽", "draw.approved": "监督批准重新抽取",
  "invitation.sent": "发出邀请", "invitation.accepted": "专家接受邀请", "invitation.declined": "专家谢绝邀请",
  "invitation.expired": "邀请超时", "invitation.withdrawn": "撤回邀请",
  "pool.evaluations_recorded": "专家库记录本次评标", "alerts.checked": "预警检查",
  "designation.requested": "申请指定专家", "designation.approved": "批准指定专家", "designation.rejected": "驳回指定专家",
  // The committee's steps (docs/scoring.md "Check-in, pledge and recusal" … "Re-review").
  "pledge.accepted": "签署承诺书", "interests.declared": "回避声明", "seat.vacated": "席位空出（回避）",
  "invitation.recused": "回避", "invitation.skipped": "跳过候补",
  "election.opened": "推选组长：开始投票", "vote.cast": "投票（密封）", "election.round_closed": "本轮计票",
  "leader.elected": "组长当选", "report.refusal_recorded": "记录拒签", "report.deemed_agreed": "视为同意",
  "rereview.requested": "申请复核", "rereview.approved": "批准复核", "rereview.rejected": "驳回复核",
  // docs/scoring.md "Clarification", "Handover".
  "clarification.requested": "要求投标人澄清", "clarification.answered": "录入澄清答复",
  "handover.recorded": "副场登记材料移交", "handover.acknowledged": "主场确认接收移交",
  "handover.overdue": "移交逾期预警",
  // docs/scoring.md "Stages", "暗标".
  "codes.committed": "暗标编号承诺", "codes.opened": "公开暗标编号",
};

// Field names of the session and command documents, for error messages.
export const FIELD_ZH = {
  reason: "暂停原因", text: "说明", seat: "席位", bid_id: "投标", stage: "评审阶段",
  report_sha256: "报告摘要", command: "操作", sha256: "承诺书摘要", declarations: "回避声明",
  candidate: "候选席位", note: "委员会书面记录", seats: "复核席位", approve: "复核决定",
  question: "澄清的问题", answer: "投标人的书面答复", attachment_sha256: "答复附件的 SHA-256", id: "澄清编号",
  items: "移交的材料", item: "移交的材料", confirmed: "移交确认", venue_id: "场地",
};

/** "第 1 席": seats are counted from 1 for people (index 0 in the documents). */
export function seatLabel(index) {
  return `第 ${Number(index) + 1} 席`;
}

/** "苏州（副场）" for a venue id of this session; the id itself only when unknown. */
export function venueLabel(session, venueId) {
  const v = session && session.venues ? session.venues.find((x) => x.id === venueId) : null;
  if (!v) return venueId ? "其他场地" : "—";
  return `${v.city}（${v.primary ? "主场" : "副场"}）`;
}

/** The state a person reads: "评审中 · 详细评审（评分）", "已暂停（原为 评审中）". */
export function stateLabel(session) {
  if (!session) return "";
  if (session.state === "evaluating") return `评审中 · ${STAGE_ZH[session.stage] || ""}`;
  if (session.state === "paused" && session.paused) {
    const from = session.paused.from_state;
    return `已暂停（原为${STATE_ZH[from] || "进行中"}）`;
  }
  return STATE_ZH[session.state] || "未知状态";
}

/** A state label of an event ("evaluating/scoring") in Chinese ("评审中 · 详细评审（评分）"). */
export function stateCode(code) {
  const [state, stage] = String(code || "").split("/");
  return (STATE_ZH[state] || "未知状态") + (stage ? ` · ${STAGE_ZH[stage] || ""}` : "");
}

/** The Chinese name of a sheet field path "bids/B1/T1" → "B1 技术方案". */
export function fieldLabel(session, path) {
  if (!path) return "";
  const parts = String(path).split("/");
  if (parts[0] === "reasons" && parts.length >= 3) {
    const crit = session && session.criteria ? session.criteria.find((c) => c.id === parts[2]) : null;
    return `${parts[1]} ${crit ? crit.name : "审查项"}的不通过理由`;
  }
  if (parts[0] === "bids" && parts.length >= 2) {
    const bid = parts[1];
    if (parts.length === 2) return `投标 ${bid}`;
    const crit = session && session.criteria ? session.criteria.find((c) => c.id === parts[2]) : null;
    const name = crit ? crit.name : parts[2] === "responsive" ? "实质性响应" :
      parts[2] === "adjustment_fen" ? "价格调整" : "评分项";
    return `${bid} ${name}`;
  }
  return FIELD_ZH[parts[parts.length - 1]] || "输入项";
}

/** One error, as a person reads it: never the server's English. */
export function errorText(code, session, field) {
  const title = ERROR_ZH[code] || "操作失败";
  return field ? `${title}：${fieldLabel(session, field)}` : title;
}

/** "12,860,000.00" from fen. */
export function yuan(fen) {
  return (Number(fen) / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** A one-line description of an event, for the live feed. */
export function describeEvent(session, e) {
  const p = e.payload || {};
  let what = EVENT_ZH[e.event] || "其他事件";
  // An event whose payload this role may not see (四不知; alerts: supervisors only,
  // docs/alerts.md) arrives as {masked: true}.
  const otherVenue = e.event === "seat.assigned" || e.event === "expert.checked_in"; // worded below
  if (p.masked && Object.keys(p).length === 1 && !otherVenue) return what + (e.event === "alerts.checked" ? "（仅监督可见）" : "（不可见）");
  switch (e.event) {
    case "session.state_changed":
      what += `：${stateCode(p.from)} → ${stateCode(p.to)}`;
      if (p.reason) what += `（${p.reason}）`;
      break;
    case "sheet.submitted":
      what += `：${seatLabel(p.seat)} · ${STAGE_ZH[p.stage] || ""} · 第 ${p.version} 版`;
      break;
    case "seat.assigned":
      what += p.masked && p.seat === undefined ? "（其他场地）" :
        `：${seatLabel(p.seat)}${p.masked ? "（身份不可见）" : p.expert_name ? ` · ${p.expert_name}` : ""}`;
      break;
    case "expert.checked_in":
      what += p.masked && p.seat === undefined ? "（其他场地）" : `：${seatLabel(p.seat)}`;
      break;
    case "bid.added":
      if (p.bid) what += `：${p.bid.id} ${p.bid.bidder}`;
      break;
    case "report.signed":
      what += `：${seatLabel(p.seat)}`;
      break;
    case "report.signatures_cleared":
      what += `：${seatLabel(p.by_seat)}记录了不同意见，${(p.seats || []).map(seatLabel).join("、")}的签名作废，需重新签署`;
      break;
    case "dissent.recorded":
      what += `：${seatLabel(p.seat)}`;
      break;
    case "deviation.explained":
      what += `：${seatLabel(p.seat)} · ${p.bid_id || ""}`;
      break;
    case "pledge.accepted":
      what += `：${seatLabel(p.seat)} · 版本 ${p.version}`;
      break;
    case "interests.declared":
      what += `：${seatLabel(p.seat)} · ${p.conflict ? `存在利害关系${p.conflicts ? `（${p.conflicts.map((c) => c.bid_id).join("、")}）` : ""}` : "无利害关系"}`;
      break;
    case "seat.vacated":
      what += `：${seatLabel(p.seat)}，待候补专家替补`;
      break;
    case "election.opened":
      what += `：第 ${p.round} 轮，候选 ${(p.candidates || []).map(seatLabel).join("、")}${p.runoff ? "（前两名决选）" : ""}`;
      break;
    case "vote.cast":
      what += `：第 ${p.round} 轮 · ${seatLabel(p.seat)}`;
      break;
    case "election.round_closed":
      what += `：第 ${p.round} 轮 · ${Object.entries(p.tally || {}).map(([k, v]) => `${seatLabel(k)} ${v} 票`).join("，") || "无有效票"}，弃权 ${p.blank}`;
      break;
    case "leader.elected":
      what += `：${seatLabel(p.seat)}（${LEADER_BY_ZH[p.by] || "选举"}）`;
      break;
    case "report.refusal_recorded":
    case "report.deemed_agreed":
      what += `：${seatLabel(p.seat)}${p.note ? ` · ${p.note}` : ""}`;
      break;
    case "rereview.requested":
    case "rereview.approved":
    case "rereview.rejected":
      what += `：${(p.seats || []).map(seatLabel).join("、")} · ${p.reason || ""}${p.decision ? `（监督意见：${p.decision}）` : ""}`;
      break;
    case "clarification.requested":
      what += `：第 ${p.id} 项 · ${p.bid_id || ""} ${p.bidder || ""} · ${p.question || ""}`;
      break;
    case "clarification.answered":
      what += `：第 ${p.id} 项 · ${p.answer || ""} · 附件 SHA-256 ${p.attachment_sha256 || ""}`;
      break;
    case "handover.recorded":
    case "handover.acknowledged":
      what += `：${venueLabel(session, p.venue_id)} · ${(p.items || []).join("、")}`;
      break;
    case "handover.overdue":
      what += `：${(p.venues || []).map((v) => `${venueLabel(session, v.venue_id)}（${v.missing === "handover" ? "未登记移交" : "未确认接收"}）`).join("、")}`;
      break;
    case "alerts.checked":
      what += `：${POINT_ZH[p.point] || "检查"} · ${(p.alerts || []).length} 条预警${(p.alerts || []).length ? `：${p.alerts.map((a) => `${a.title}（${alertSubject(a)}）`).join("；")}` : ""}`;
      break;
    default:
      break;
  }
  return what;
}

const LEADER_BY_ZH = { majority: "过半数", runoff: "决选", lot: "抽签" };

/** Who an alert names: "第 2 席、第 3 席 · 投标 B1、B2". */
export function alertSubject(a) {
  const x = (a && a.subject) || {};
  const seats = x.seats ? x.seats.map(seatLabel).join("、") : "";
  const bids = x.bids ? `投标 ${x.bids.join("、")}` : "";
  return [seats, bids].filter(Boolean).join(" · ");
}
