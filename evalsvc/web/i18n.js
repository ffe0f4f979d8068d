// The one zh-CN dictionary (STYLE.md "The browser client"): every string a person reads
// comes from here, keyed by the codes the server sends. The server's English `detail` is
// for logs; it is never shown.

export const STATE_ZH = {
  draft: "草稿", drawing: "抽取专家中", ready: "专家已确定", checking_in: "签到中",
  evaluating: "评审中", aggregating: "汇总中", reporting: "评标报告", sealed: "已封存",
  paused: "已暂停", aborted: "已终止", suspended: "已中止（待另行择期）",
};
// Why a session paused or moved by rule (docs/scoring.md "Faults by rule"); any other
// reason is an operator's own words, shown as typed.
export const REASON_ZH = {
  venue_link_lost: "副场链路中断", committee_reformed: "重新组建评标委员会",
};
// The [rules] settings the fault events name, with their configured minutes.
export const RULE_ZH = {
  link_lost_pause_minutes: "链路中断满 {v} 分钟即暂停", resume_deadline_minutes: "暂停后 {v} 分钟内未恢复",
  suspend_after_minutes: "暂停后 {v} 分钟内未重新开始评审即中止",
};
export const STAGE_ZH = {
  qualification: "资格审查", compliance: "符合性审查", scoring: "详细评审（评分）",
  technical: "技术评审", commercial: "商务评审",
};
export const METHOD_ZH = { weighted_scoring: "综合评估法", lowest_evaluated_price: "经评审的最低投标价法" };
export const ROLE_ZH = { operator: "操作员", expert: "专家", supervisor: "监督", site_supervisor: "现场监督" };
// Incident categories (evalsvc.sessions.model.INCIDENT_CATEGORIES; the report's names).
export const INCIDENT_ZH = { identity: "身份核验", discipline: "评标纪律", device: "通讯工具", venue: "场地设备与网络", other: "其他" };
export const CATEGORY_ZH = {
  qualification: "资格（通过/不通过）", compliance: "符合性（通过/不通过）", technical: "技术", commercial: "商务", price: "价格",
};
// docs/scoring.md "Price formulas" (main: formulas14).
export const FORMULA_ZH = {
  lowest_price_ratio: "低价优先法（最低有效报价为评标基准价）", average_benchmark: "评标基准价法",
  lowest_evaluated_price: "经评审的最低投标价法",
};
// Check points of the pattern alerts (docs/alerts.md, main: alerts16).
export const POINT_ZH = { bids: "投标文件", qualification: "资格审查", scoring: "详细评审", report: "评标报告", split_view: "审计日志分叉" };
// The masked personal fields of the pool snapshot (docs/audit.md "Masked personal data").
export const POOL_FIELD_ZH = { name: "姓名", resident_id: "身份证号", employer: "工作单位", title: "职称" };
export const REGION_ZH = { SH: "上海", JS: "江苏", ZJ: "浙江", AH: "安徽" };

export const ERROR_ZH = {
  invalid_input: "输入有误", malformed_body: "请求格式错误", unsupported_media_type: "内容类型错误",
  payload_too_large: "内容过大", message_too_large: "内容过大", unauthenticated: "未登录或令牌无效",
  token_revoked: "令牌已被吊销，请重新登录", forbidden: "无权进行此操作", not_found: "未找到该项目或无权查看",
  invalid_transition: "当前状态不允许此操作", conflict: "操作冲突，请刷新后重试",
  idempotency_conflict: "重复提交的内容不一致", unavailable: "服务暂不可用，稍后自动重试",
  internal_error: "服务器内部错误", auth_timeout: "登录超时", slow_consumer: "连接过慢，正在重新同步",
  going_away: "服务器正在重启，正在重新连接", network: "网络中断",
  // Certificates (docs/pki.md "Errors (HTTP)").
  signature_invalid: "数字签名无效：请使用登录时的证书密钥签名",
  certificate_rejected: "证书未通过验证", certificate_expired: "证书已过期",
  certificate_not_yet_valid: "证书尚未生效", certificate_revoked: "证书已被吊销",
  certificate_unknown_issuer: "证书不是受信任的地区 CA 签发的",
  certificate_wrong_key_usage: "证书的密钥用途不允许签名", certificate_wrong_role: "证书的用途与身份不符",
  certificate_signature_invalid: "证书签名无效", certificate_chain_too_deep: "证书链过长",
  certificate_revocation_unavailable: "暂时无法确认证书是否被吊销（证书吊销列表不可用），请稍后再试",
};

// What is wrong with a chosen key file (evalsvc/web/certkey.js KeyFileError codes).
export const KEY_ERROR_ZH = {
  no_key: "文件中没有私钥：请选择含私钥和证书的 PEM 文件",
  no_certificate: "文件中没有证书：请选择含私钥和证书链的 PEM 文件",
  two_keys: "文件中有多个私钥：请只保留您本人的一个",
  encrypted_key: "私钥已加密：请先用证书工具导出未加密的 PEM 私钥",
  bad_key: "私钥格式无法识别（应为 PKCS#8 或 SM2 EC PRIVATE KEY 的 PEM）",
  bad_pem: "PEM 内容已损坏",
  unsupported_key: "不支持此私钥算法（支持 SM2、ECDSA P-256/P-384、RSA）",
};

// A refused certificate login, by the server's code (what differs from ERROR_ZH there).
export const CERT_LOGIN_ERROR_ZH = {
  forbidden: "登录被拒绝：证书持有人不在本项目的评标委员会中，或签名与证书不符",
  not_found: "没有这个评标项目编号",
  unauthenticated: "登录挑战已过期，请重试",
  unavailable: "服务器暂未配置证书信任根，暂不能证书登录",
  invalid_input: "项目编号或证书格式有误",
};

export const KEY_ALGORITHM_ZH = {
  sm2: "SM2（国密）", "ecdsa-p256": "ECDSA P-256", "ecdsa-p384": "ECDSA P-384", rsa: "RSA",
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
  // docs/scoring.md "Faults by rule".
  "venue.link_lost": "副场链路中断", "venue.link_restored": "副场链路恢复",
  "materials.sealed": "评标材料封存", "sheets.voided": "评审表作废",
  "committee.reformed": "重新组建评标委员会",
  // docs/api.md "Supervision by scope".
  "incident.recorded": "现场监督记录",
  // docs/audit.md "Split views".
  "alert.raised": "监督预警",
  // docs/audit.md "Opening one field".
  "pool.field_opened": "开启专家库遮蔽字段",
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
  category: "类别", occurred_at: "发生时间", expert_id: "专家库编号", expert_name: "专家姓名", guidance: "评分指引",
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

/** "副场链路中断" for a rule's reason code; an operator's own reason as typed. */
export function reasonText(reason) {
  return REASON_ZH[reason] || reason || "未说明原因";
}

/** "依据规则：链路中断满 10 分钟即暂停" from an event's rule {name, value}. */
export function ruleText(rule) {
  if (!rule) return "";
  return `依据规则：${(RULE_ZH[rule.name] || "{v} 分钟").replace("{v}", rule.value)}`;
}

/** The venue-link fault lines a workspace shows (operators and supervisors), each a
 * sentence; empty when nothing is wrong. */
export function faultLines(s) {
  const lines = [];
  for (const [venue, since] of s.links_lost || []) {
    const t = new Date(since * 1000).toLocaleTimeString("zh-CN", { hour12: false });
    lines.push(`副场链路中断：${venueLabel(s, venue)}自 ${t} 起无连接（场地代理和专家均已断开）`);
  }
  const f = s.fault;
  if (s.state === "paused" && s.paused && s.paused.reason === "venue_link_lost" && f) {
    lines.push(`因副场链路中断已暂停（${venueLabel(s, f.venue_id)}）：链路恢复后由主场恢复评标；未在恢复时限内恢复的，评标材料封存并重新组建评标委员会。`);
  } else if (f && f.reformed && s.state !== "suspended") {
    lines.push(`已重新组建评标委员会：${venueLabel(s, f.venue_id)}的席位移至主场，由补抽（新的抽取仪式，各在线场地与监督共同产生随机数）选出的专家替补，原评审表作废（保留在记录中）；须在最长时限内重新开始评审，否则评标中止。`);
  }
  if (s.state === "suspended") {
    lines.push("评标已中止：副场链路中断超过最长时限，须另行择期评标；本项目只能终止。");
  }
  return lines;
}

/** A one-line description of an event, for the live feed. */
export function describeEvent(session, e) {
  const p = e.payload || {};
  let what = EVENT_ZH[e.event] || "其他事件";
  // An event whose payload this role may not see (四不知; alerts: supervisors only,
  // docs/alerts.md) arrives as {masked: true}.
  const otherVenue = e.event === "seat.assigned" || e.event === "expert.checked_in"; // worded below
  if (p.masked && Object.keys(p).length === 1 && !otherVenue) {
    const only = { "alerts.checked": "（仅监督可见）", "alert.raised": "（仅监督可见）", "pool.field_opened": "（仅监督可见）", "incident.recorded": "（仅监督与该场地现场监督可见）" };
    return what + (only[e.event] || "（不可见）");
  }
  switch (e.event) {
    case "session.state_changed":
      what += `：${stateCode(p.from)} → ${stateCode(p.to)}`;
      if (p.reason) what += `（${reasonText(p.reason)}${p.venue_id ? ` · ${venueLabel(session, p.venue_id)}` : ""}${p.rule ? ` · ${ruleText(p.rule)}` : ""}）`;
      break;
    case "venue.link_lost":
    case "venue.link_restored":
      what += `：${venueLabel(session, p.venue_id)}`;
      break;
    case "materials.sealed":
      what += `：${venueLabel(session, p.venue_id)}链路未恢复 · ${ruleText(p.rule)}`;
      break;
    case "sheets.voided":
      what += `：${(p.seats || []).map((x) => seatLabel(x.seat)).join("、")}`;
      break;
    case "committee.reformed":
      what += `：${(p.venues || []).map((v) => venueLabel(session, v)).join("、")}的${(p.seats || []).map(seatLabel).join("、")}${p.moved && p.moved.length ? `移至${venueLabel(session, p.moved[0].to)}，` : ""}由补抽专家替补 · ${ruleText(p.rule)}`;
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
      what += `：${seatLabel(p.by_seat)}${p.reason === "deemed_agreement" ? "视为同意（委员会书面说明已确认）" : "记录了不同意见"}，${(p.seats || []).map(seatLabel).join("、")}的签名作废，需重新签署`;
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
      what += `：${seatLabel(p.seat)}${p.reason === "venue_link_lost" ? "（副场链路中断），待补抽" : "，待候补专家替补"}`;
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
    case "incident.recorded":
      what += `：${venueLabel(session, p.venue_id)} · ${INCIDENT_ZH[p.category] || p.category || ""} · ${p.text || ""}`;
      break;
    case "handover.overdue":
      what += `：${(p.venues || []).map((v) => `${venueLabel(session, v.venue_id)}（${v.missing === "handover" ? "未登记移交" : "未确认接收"}）`).join("、")}`;
      break;
    case "alert.raised":
      // docs/audit.md "Split views": reported by a venue's agent, supervisors only.
      what += `：${p.title || "预警"}（${session ? venueLabel(session, p.venue_id) : p.venue_name || ""}报告）`;
      break;
    case "pool.field_opened":
      what += `：专家 ${p.expert_id} 的${POOL_FIELD_ZH[p.field] || p.field}（理由：${p.reason || ""}）`;
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
  // (A split view names the venue that caught it; its city when the alert carries it.)
  const venues = x.venues ? `场地 ${(a.evidence && a.evidence.venue_name) || x.venues.join("、")}` : "";
  return [seats, bids, venues].filter(Boolean).join(" · ");
}
