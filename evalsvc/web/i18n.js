// The one zh-CN dictionary (STYLE.md "The browser client"): every string a person reads
// comes from here, keyed by the codes the server sends. The server's English `detail` is
// for logs; it is never shown.

export const STATE_ZH = {
  draft: "草稿", drawing: "抽取专家中", ready: "专家已确定", checking_in: "签到中",
  evaluating: "评审中", aggregating: "汇总中", reporting: "评标报告", sealed: "已封存",
  paused: "已暂停", aborted: "已终止",
};
export const STAGE_ZH = { qualification: "资格审查", scoring: "详细评审（评分）" };
export const METHOD_ZH = { weighted_scoring: "综合评估法", lowest_evaluated_price: "经评审的最低投标价法" };
export const CATEGORY_ZH = { qualification: "资格（通过/不通过）", technical: "技术", commercial: "商务", price: "价格" };
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
};

// Field names of the session and command documents, for error messages.
export const FIELD_ZH = {
  reason: "暂停原因", text: "说明", seat: "席位", bid_id: "投标", stage: "评审阶段",
  report_sha256: "报告摘要", command: "操作",
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
    default:
      break;
  }
  return what;
}
