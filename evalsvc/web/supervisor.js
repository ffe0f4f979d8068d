// The supervisor's workspace: the live console (committee, progress, presence, venue
// links, pause), the result, and the audit view — the signed checkpoint, witnesses'
// cosignatures, the entries — with every inclusion proof verified here, in the browser,
// against the checkpoint signed by a log key the supervisor pinned (verify.js): "已验证"
// does not take the server's word for it.
//
// A venue's site supervisor (现场监督, me.role "site_supervisor") gets the reduced view of
// the same workspace: its venue's seats, check-in and presence (the server masks the
// rest), the result once locked, and the incident form (incidents.js) — no audit view,
// no pattern alerts, no draw, no pause, no approvals, no opening of pool fields.

import { api, get } from "./api.js";
import { $, announce, confirmDialog, el } from "./dom.js";
import { ERROR_ZH, EVENT_ZH, POINT_ZH, alertSubject, faultLines, reasonText, ruleText, seatLabel, venueLabel } from "./i18n.js";
import { committeeTable, stageProgress, venueLinks } from "./committee.js";
import { drawCard } from "./draw.js";
import { handoverCard } from "./handover.js";
import { incidentCard } from "./incidents.js";
import { openingCard } from "./openings.js";
import { resultCard } from "./results.js";
import { commandSender, electionLine, pauseWithReason, reportButtons } from "./steps.js";
import { b64decode, hex, parseCheckpoint, parseVkey, verifyEntry, verifyNote } from "./verify.js";

// Pinned keys are not secrets and outlive a sign-out (store.js clears "evalsvc." only).
const PIN = "evalsvc-pin.";
const PAGE = 20;

function witnessKeys(policy) {
  return policy.split("\n").filter((l) => l.startsWith("witness ")).map((l) => l.trim().split(/\s+/).pop());
}

export function mount(ctx) {
  const { client, me, body, showProblem } = ctx;
  const command = commandSender({ client, showProblem, session: () => session });
  const site = me.role === "site_supervisor";
  let session = null;
  let progress = null;
  let presence = null;
  let checkpoint = null; // {note, size, root, cosignatures}
  let auditShown = false;
  const verified = new Map(); // index -> {ok, reason, entry, proof}

  const consoleCard = el("section", { class: "card", "aria-labelledby": "con-h" }, el("h2", { id: "con-h" }, site ? "本场地现场监督" : "实时监督"));
  // Alerts a supervisor must see: a certificate login whose revocation status could not be
  // confirmed (soft-fail CRL), a pause and its reason, signatures voided by a dissent.
  const alerts = el("section", { class: "card", id: "alerts", "aria-labelledby": "alerts-h", hidden: true },
    el("h2", { id: "alerts-h" }, "监督提醒"), el("ul", { id: "alert-list" }));
  client.on("event", (e) => {
    const p = e.payload || {};
    let text = null;
    if (e.event === "auth.login" && (p.revocation_warnings || []).length) {
      text = `证书登录（${p.role === "expert" ? seatLabel(p.seat) : venueLabel(session, p.venue_id)}）的吊销状态未能确认`;
    } else if (e.event === "session.state_changed" && String(p.to).startsWith("paused")) {
      text = `评标暂停：${reasonText(p.reason)}${p.venue_id ? `（${venueLabel(session, p.venue_id)}）` : ""}${p.rule ? `，${ruleText(p.rule)}` : ""}`;
    } else if (e.event === "session.state_changed" && p.to === "suspended") {
      text = `评标中止，须另行择期：${ruleText(p.rule)}`;
    } else if (e.event === "committee.reformed") {
      text = `重新组建评标委员会：${(p.seats || []).map(seatLabel).join("、")}由补抽专家替补，${ruleText(p.rule)}`;
    } else if (e.event === "alerts.checked" && !p.masked && (p.alerts || []).length) {
      // Pattern alerts (docs/alerts.md): supervisors only; others get {"masked": true}.
      // The details are in the table of every check point below (#patterns).
      const rules = [...new Set(p.alerts.map((a) => a.title))].join("、");
      text = `${POINT_ZH[p.point] || "检查"}发现 ${p.alerts.length} 条预警（${rules}），详见“围标串标与评审质量预警”`;
    } else if (e.event === "alert.raised" && p.rule === "split_view") {
      // A venue caught the primary showing it another history than the one its witnesses
      // cosigned (docs/audit.md "Split views"): the log key signed both checkpoints.
      const ev = p.evidence || {};
      const where = session ? venueLabel(session, p.venue_id) : p.venue_name; // (replayed before the session is read)
      text = `审计日志分叉：${where}的镜像收到与见证人联署不一致的检查点（大小 ${ev.size}，联署根 ${String((ev.roots || [])[0]).slice(0, 16)}…，所示根 ${String((ev.roots || [])[1]).slice(0, 16)}…），两者均由日志密钥签名`;
    } else if (e.event === "handover.overdue" && !p.masked) {
      text = `材料移交逾期：${(p.venues || []).map((v) => `${venueLabel(session, v.venue_id)}${v.missing === "handover" ? "未登记移交" : "主场未确认接收"}`).join("、")}`;
    } else if (e.event === "report.signatures_cleared") {
      text = `${seatLabel(p.by_seat)}记录不同意见，${(p.seats || []).map(seatLabel).join("、")}的签名作废`;
    }
    if (!text) return;
    const t = new Date(e.time).toLocaleTimeString("zh-CN", { hour12: false });
    document.getElementById("alert-list").prepend(el("li", {}, `${t} ${text}`));
    alerts.hidden = false;
  });
  const result = el("section", { class: "card", "aria-labelledby": "sres-h", hidden: true });
  const updateResult = resultCard(result, get, "sres-h");
  const audit = el("section", { class: "card", id: "audit", "aria-labelledby": "audit-h" },
    el("h2", { id: "audit-h" }, "审计日志"),
    el("p", {}, "检查点由日志密钥签名、各副场见证人联署；每一条记录的包含证明都在本浏览器内用 SHA-256 重新计算，不依赖服务器的结论。"),
    el("button", { type: "button", onclick: () => openAudit().catch((err) => showProblem(ERROR_ZH[err.code] || "无法读取审计日志")) }, "打开审计日志"));
  // Pattern alerts of every check point (docs/alerts.md): GET …/alerts, read again after
  // each alerts.checked event.
  const patterns = el("section", { class: "card", id: "patterns", "aria-labelledby": "patterns-h" },
    el("h2", { id: "patterns-h" }, "围标串标与评审质量预警"));
  let patternsDirty = true;
  client.on("event", (e) => {
    if (e.event === "alerts.checked" || e.event === "alert.raised") patternsDirty = true;
  });
  // Decisions only a supervisor takes: re-review, deemed agreement (第43条).
  const approvals = el("section", { class: "card", id: "approvals", "aria-labelledby": "appr-h", hidden: true });
  let approvalsKey = null;
  const draw = drawCard({ me, showProblem });
  // Clarifications and the handover's status (docs/scoring.md), read only.
  const handover = handoverCard({ command });
  // An expert's review record (专家评审质量, docs/alerts.md): across sessions, every alert
  // that named them and every observation recorded about them.
  const review = el("section", { class: "card", id: "review", "aria-labelledby": "review-h", hidden: true });
  let reviewKey = null;
  const incidents = incidentCard({ me, command });
  // Opening one masked field of the pool snapshot, on the record (the tender's supervisor).
  const opening = openingCard({ sessionId: () => session.id });
  // (The alerts card too: a pause and its reason, voided signatures; pattern alerts
  // reach a site supervisor masked, so never as an alert here.)
  if (site) body.append(alerts, consoleCard, incidents.card, handover.card, result);
  else body.append(alerts, approvals, consoleCard, incidents.card, handover.card, patterns, review, draw.card, result, audit, opening.card);


  async function renderPatterns() {
    if (!patternsDirty) return;
    const data = await get(`/api/sessions/${session.id}/alerts`);
    patternsDirty = false;
    const when = (ms) => new Date(ms).toLocaleTimeString("zh-CN", { hour12: false });
    const rows = data.checks.map((c) => el("tr", {},
      el("th", { scope: "row" }, POINT_ZH[c.point] || "检查"),
      el("td", {}, c.time_ms ? when(c.time_ms) : "—"),
      el("td", { class: "wrap" }, c.alerts.length ? el("ul", { class: "links" }, c.alerts.map((a) =>
        el("li", {}, el("strong", {}, a.title), `（${alertSubject(a) || "—"}）`))) : "未发现异常")));
    const total = data.checks.reduce((n, c) => n + c.alerts.length, 0);
    // (A split view a venue reported is listed as a point of its own, not a check.)
    const done = data.checks.filter((c) => c.point !== "split_view").length;
    patterns.replaceChildren(el("h2", { id: "patterns-h" }, "围标串标与评审质量预警"),
      el("p", { class: total ? "flag" : "muted" }, data.checks.length
        ? `已完成 ${done} 次检查，共 ${total} 条预警。预警只对监督可见，是需要核查的线索，不是结论。`
        : "尚未到检查点（开始抽取专家、两次锁定、生成评标报告时各检查一次）。"),
      data.checks.length ? el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "预警检查结果" }, el("table", { id: "pattern-table" },
        el("caption", {}, "各检查点的预警"),
        el("thead", {}, el("tr", {}, ...["检查点", "时间", "预警"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows))) : "");
  }

  // The reason of the designation waiting for a decision is in its event, not the document.
  let designationReason = "";
  client.on("event", (e) => {
    if (e.event === "designation.requested") designationReason = (e.payload || {}).reason || "";
  });

  function designationPart(s, requested) {
    const reason = el("textarea", { id: "dsg-decision", rows: "2", "aria-describedby": "dsg-decision-err" });
    const err = el("span", { id: "dsg-decision-err", class: "field-error", hidden: true });
    const who = requested.map((x) => `${seatLabel(x.index)}（${venueLabel(s, x.venue_id)}）${x.expert_name || ""}`).join("、");
    const decide = async (approve) => {
      const text = reason.value.trim();
      err.textContent = text ? "" : "监督意见：请填写";
      err.hidden = Boolean(text);
      if (!text) {
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
        return;
      }
      reason.removeAttribute("aria-invalid");
      const label = approve ? "批准指定专家" : "驳回指定专家";
      const ok = await confirmDialog({ title: `${label}？`, confirm: `确认${label}`, danger: !approve,
        lines: approve ? [`${who} 将作为招标人指定的专家进入评标委员会（评标委员会和评标方法暂行规定 第10条）。`, `监督意见：${text}`]
          : [`${who} 的指定被驳回，这些席位空出，须通过抽取或重新申请指定。`, `监督意见：${text}`] });
      if (ok) await command({ command: "decide_designation", approve, reason: text }, approve ? "已批准指定专家" : "已驳回指定专家");
    };
    return [el("h3", {}, "招标人指定专家申请（第10条）"),
      el("p", {}, `指定席位：${who}`), el("p", {}, `申请理由：${designationReason || "（见事件记录）"}`),
      el("label", { for: "dsg-decision" }, "监督意见"), reason, err,
      el("div", { class: "actions" },
        el("button", { type: "button", onclick: () => decide(true) }, "批准指定专家"),
        el("button", { type: "button", class: "secondary", onclick: () => decide(false) }, "驳回指定专家"))];
  }

  function renderApprovals() {
    const s = session;
    const r = s.rereview && !s.rereview.approved ? s.rereview : null;
    const refusals = s.state === "reporting" ? (s.refusals || []).filter(([seat]) => !(s.deemed || []).includes(seat)) : [];
    const requested = s.state === "drawing" ? s.seats.filter((x) => x.source === "requested") : [];
    approvals.hidden = !r && !refusals.length && !requested.length;
    const key = JSON.stringify([r, refusals, requested.map((x) => x.index), designationReason]);
    if (approvals.hidden || key === approvalsKey) return;
    approvalsKey = key;
    const parts = [el("h2", { id: "appr-h" }, "待监督决定")];
    if (requested.length) parts.push(...designationPart(s, requested));
    if (r) {
      const reason = el("textarea", { id: "rr-decision", rows: "2", "aria-describedby": "rr-decision-err" });
      const err = el("span", { id: "rr-decision-err", class: "field-error", hidden: true });
      const decide = async (approve) => {
        const text = reason.value.trim();
        if (!text) {
          err.textContent = "请填写监督意见";
          err.hidden = false;
          reason.setAttribute("aria-invalid", "true");
          reason.focus();
          return;
        }
        const label = approve ? "批准复核" : "驳回复核";
        const ok = await confirmDialog({ title: `${label}？`, confirm: `确认${label}`, danger: !approve,
          lines: approve ? [`详细评审将对${r.seats.map(seatLabel).join("、")}重新开启；已有签名和视为同意全部作废，报告重新生成。`, `监督意见：${text}`]
            : ["复核申请将被驳回，评审结果不变。", `监督意见：${text}`] });
        if (ok) await command({ command: "decide_rereview", approve, reason: text }, approve ? "已批准复核" : "已驳回复核");
      };
      parts.push(el("h3", {}, "组长申请复核"),
        el("p", {}, `复核席位：${r.seats.map(seatLabel).join("、")}；原因：${r.reason}`),
        el("label", { for: "rr-decision" }, "监督意见"), reason, err,
        el("div", { class: "actions" },
          el("button", { type: "button", onclick: () => decide(true) }, "批准复核"),
          el("button", { type: "button", class: "secondary", onclick: () => decide(false) }, "驳回复核")));
    }
    if (refusals.length) {
      parts.push(el("h3", {}, "拒签记录待确认（第43条）"));
      for (const [seat, note] of refusals) {
        parts.push(el("p", {}, `${seatLabel(seat)}：${note}`), el("div", { class: "actions" },
          el("button", { type: "button", onclick: async () => {
            const ok = await confirmDialog({ title: `确认${seatLabel(seat)}视为同意？`, confirm: "确认视为同意",
              lines: ["该席位既未签字也未书面陈述不同意见和理由，依第43条视为同意评标结果。", `委员会记录：${note}`, "确认后该席位不能再签署或记录不同意见。"] });
            if (ok) await command({ command: "confirm_deemed_agreement", seat }, `已确认${seatLabel(seat)}视为同意`);
          } }, `确认${seatLabel(seat)}视为同意`)));
      }
    }
    approvals.replaceChildren(...parts);
  }

  const OBSERVATION_ZH = { leaning: "评分倾向" };
  const DIRECTION_ZH = { high: "偏高", low: "偏低", favour: "偏高", against: "偏低" };

  function renderReviewPicker() {
    const s = session;
    const members = s.seats.filter((x) => x.expert_id && !x.masked);
    review.hidden = !members.length;
    const key = members.map((x) => `${x.index}:${x.expert_id}`).join(",");
    if (review.hidden || key === reviewKey) return;
    reviewKey = key;
    const select = el("select", { id: "review-expert" }, ...members.map((x) =>
      el("option", { value: x.expert_id }, `${seatLabel(x.index)} · ${venueLabel(s, x.venue_id)} · ${x.expert_name || "—"}`)));
    const out = el("div", { id: "review-out", role: "region", "aria-live": "polite", "aria-label": "评审记录" });
    review.replaceChildren(el("h2", { id: "review-h" }, "专家评审记录"),
      el("p", { class: "muted" }, "每位专家在各项目中被预警点名的记录和评分倾向观察（专家评审质量）。来自各项目审计日志中的预警检查，只对监督可见；是需要核查的线索，不是结论。"),
      el("div", { class: "reg-field" }, el("label", { for: "review-expert" }, "评标专家"), select),
      el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => showReview(select.value, select.selectedOptions[0].textContent) }, "查看评审记录")),
      out);
  }

  async function showReview(expertId, label) {
    let r;
    try {
      r = await get(`/api/experts/${encodeURIComponent(expertId)}/review`);
    } catch (err) {
      showProblem(ERROR_ZH[err.code] || "无法读取评审记录");
      return;
    }
    const when = (ms) => new Date(ms).toLocaleString("zh-CN", { hour12: false });
    const rules = Object.entries(r.alerts_by_rule);
    const parts = [el("h3", { id: "review-who" }, label),
      el("p", {}, `涉及 ${r.sessions} 个项目；被预警点名 ${r.alerts.length} 次${rules.length ? `（${rules.map(([rule, n]) => `${(r.alerts.find((a) => a.rule === rule) || {}).title || "预警"} ${n} 次`).join("，")}）` : ""}；评分倾向观察 ${r.observations.length} 条。`)];
    if (r.alerts.length) {
      parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "被预警点名的记录" }, el("table", { id: "review-alerts" },
        el("caption", {}, "被预警点名的记录"),
        el("thead", {}, el("tr", {}, ...["时间", "项目", "检查点", "预警", "涉及"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, r.alerts.map((a) => el("tr", {}, el("td", {}, when(a.time_ms)), el("td", {}, a.session_id === session.id ? "本项目" : a.session_id),
          el("td", {}, POINT_ZH[a.point] || "检查"), el("th", { scope: "row" }, a.title), el("td", { class: "wrap" }, alertSubject(a) || "—")))))));
    }
    if (r.observations.length) {
      parts.push(el("h4", {}, "评分倾向观察"), el("ul", {}, r.observations.map((o) =>
        el("li", {}, `${OBSERVATION_ZH[o.kind] || "观察"}：${o.session_id === session.id ? "本项目" : o.session_id}，对统一社会信用代码 ${o.uscc || "—"} 的投标人${DIRECTION_ZH[o.direction] || ""}${o.z ? `（z = ${o.z}）` : ""}`))));
    }
    if (!r.alerts.length && !r.observations.length) parts.push(el("p", { class: "muted" }, "暂无预警或观察记录。"));
    $("review-out").replaceChildren(...parts);
    $("review-who").setAttribute("tabindex", "-1");
    $("review-who").focus();
  }

  async function abort() {
    const reason = await confirmDialog({ title: "终止本项目？", danger: true, confirm: "确认终止", input: "终止原因",
      lines: ["终止后本项目不能继续，也不能恢复。抽取开始后只有监督可以终止（防止主场借终止换取新的抽取结果）。",
        "同一招标项目再次登记后，须经监督批准才能重新抽取。终止原因通知各场地并写入审计日志。"] });
    if (!reason) return;
    await command({ command: "abort", reason }, "本项目已终止");
  }

  const pause = () => pauseWithReason(command);

  function renderConsole() {
    const s = session;
    const active = ["drawing", "ready", "checking_in", "evaluating", "aggregating", "reporting"].includes(s.state);
    const files = reportButtons(s, site ? "operator" : "supervisor", (err) => showProblem(ERROR_ZH[err.code] || "无法打开评标报告"));
    consoleCard.replaceChildren(el("h2", { id: "con-h" }, site ? "本场地现场监督" : "实时监督"),
      s.stage ? el("p", {}, stageProgress(s, progress)) : "",
      electionLine(s, { withSize: true }) ? el("p", {}, electionLine(s, { withSize: true })) : "",
      files || "",
      s.state === "paused" ? el("p", { class: "warning" }, `已暂停：${reasonText(s.paused.reason)}`) : "",
      faultLines(s).length ? el("ul", { id: "faults", class: "warning" }, faultLines(s).map((x) => el("li", {}, x))) : "",
      committeeTable(s, progress, presence),
      // (A site supervisor is told of its own venue's connections only.)
      el("h3", {}, "场地链路"), venueLinks(site ? { ...s, venues: s.venues.filter((v) => v.id === me.venue) } : s, presence),
      !site && (active || s.state === "paused") ? el("div", { class: "actions" },
        active ? el("button", { type: "button", class: "secondary", onclick: pause }, "暂停评标") : "",
        el("button", { type: "button", class: "danger", onclick: abort }, "终止项目")) : "");
  }

  const renderResult = () => updateResult(session);

  // --- the audit view ---------------------------------------------------------------------

  function pinned(origin) {
    return localStorage.getItem(PIN + origin);
  }

  async function openAudit() {
    auditShown = true;
    const key = await get(`/api/sessions/${session.id}/audit/key`);
    const pin = pinned(key.origin);
    if (!pin) {
      renderPin(key, null);
      return;
    }
    if (pin !== key.log_vkey) {
      renderPin(key, "服务器现在提供的日志公钥与您此前信任的不同。除非已通过线下渠道确认更换，请勿信任，并报告此情况。");
      return;
    }
    await loadCheckpoint(pin);
  }

  function renderPin(key, warning) {
    const field = el("textarea", { id: "vkey", rows: "2", spellcheck: "false" });
    field.value = key.log_vkey;
    const err = el("p", { id: "vkey-err", class: "field-error", hidden: true });
    audit.replaceChildren(el("h2", { id: "audit-h" }, "审计日志"),
      warning ? el("p", { class: "warning", role: "alert" }, warning) : "",
      el("p", {}, "首次查看本项目的审计日志：请将下面的日志公钥与主场线下提供的公钥（或离线材料中的验证策略）核对一致后再信任。之后本浏览器只用这把公钥验证。"),
      el("label", { for: "vkey" }, "日志公钥"), field, err,
      el("div", { class: "actions" }, el("button", { type: "button", onclick: async () => {
        try {
          const parsed = await parseVkey(field.value);
          if (parsed.name !== key.origin) throw new Error("日志公钥的名称与本项目的日志不符");
          localStorage.setItem(PIN + key.origin, field.value.trim());
          await loadCheckpoint(field.value.trim());
        } catch (e) {
          err.textContent = `日志公钥：${e.message}`;
          err.hidden = false;
          field.setAttribute("aria-invalid", "true");
          field.focus();
        }
      } }, "信任此公钥")));
  }

  async function loadCheckpoint(vkey) {
    const note = await api("GET", `/api/sessions/${session.id}/audit/checkpoint`, { text: true });
    const policy = await api("GET", `/api/sessions/${session.id}/audit/policy`, { text: true });
    const witnesses = witnessKeys(policy);
    let status;
    try {
      const v = await verifyNote(note, vkey, witnesses);
      const cp = parseCheckpoint(v.text);
      checkpoint = { note, size: cp.size, root: hex(cp.root), cosignatures: v.cosignatures, vkey, witnesses, ok: true };
      status = el("p", { class: "ok-text", id: "cp-status" }, `检查点签名已验证：共 ${cp.size} 条记录，根哈希 ${hex(cp.root).slice(0, 16)}…`);
    } catch (e) {
      checkpoint = { note, size: 0, cosignatures: [], vkey, witnesses, ok: false };
      status = el("p", { class: "flag", id: "cp-status", role: "alert" }, `检查点验证失败：${e.message}`);
    }
    const cos = checkpoint.cosignatures.length ? el("ul", {}, checkpoint.cosignatures.map((c) => el("li", {},
      `见证人 ${c.name}：${c.verified ? `联署已验证（${new Date(c.time * 1000).toLocaleString("zh-CN", { hour12: false })}）` : "联署未验证（验证策略中没有该见证人的公钥）"}`)))
      : el("p", { class: "muted" }, "本检查点尚无见证人联署。");
    audit.replaceChildren(el("h2", { id: "audit-h" }, "审计日志"), status,
      el("h3", {}, "见证人联署"), cos,
      el("details", {}, el("summary", {}, "检查点原文"), el("pre", { class: "note" }, note)),
      el("h3", {}, "日志记录"),
      el("div", { class: "actions" },
        el("button", { type: "button", onclick: () => verifyPage() }, "验证本页全部记录"),
        el("button", { type: "button", class: "secondary", onclick: () => exportAudit() }, "导出审计材料")),
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "可横向滚动的表格" }, el("table", { id: "entries" }, el("caption", {}, `最近 ${Math.min(PAGE, checkpoint.size)} 条记录`),
        el("thead", {}, el("tr", {}, ...["序号", "内容", "验证"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, entryRows()))));
  }

  function verifyButton(i, text) {
    return el("button", { type: "button", class: "secondary small", "aria-label": `验证第 ${i + 1} 条记录`, onclick: () => verifyOne(i) }, text);
  }

  function entryRows() {
    const rows = [];
    for (let i = checkpoint.size - 1; i >= Math.max(0, checkpoint.size - PAGE); i -= 1) {
      const cell = el("td", { id: `v-${i}` });
      cell.append(verifyButton(i, "验证"));
      rows.push(el("tr", {}, el("th", { scope: "row" }, String(i + 1)), el("td", { id: `e-${i}` }, "—"), cell));
    }
    return rows;
  }

  function describe(entryText) {
    try {
      const e = JSON.parse(entryText);
      return EVENT_ZH[e.action] || e.action || "记录";
    } catch {
      return "无法解析的记录";
    }
  }

  async function verifyOne(i) {
    const cell = document.getElementById(`v-${i}`);
    cell.textContent = "验证中…";
    let r;
    let data;
    try {
      data = await get(`/api/sessions/${session.id}/audit/entries/${i}`);
      r = await verifyEntry({ entry: b64decode(data.entry_base64), tlogProof: data.tlog_proof, vkey: checkpoint.vkey,
        witnessKeys: checkpoint.witnesses, index: i });
    } catch (err) {
      r = { ok: false, reason: ERROR_ZH[err.code] || "无法取得记录" };
    }
    verified.set(i, { ...r, entry: data ? data.entry_base64 : null, proof: data ? data.tlog_proof : null });
    document.getElementById(`e-${i}`).textContent = data ? describe(data.entry) : "—";
    cell.replaceChildren(r.ok ? el("span", { class: "ok-text" }, `已验证（检查点 ${r.size} 条）`)
      : el("span", { class: "flag" }, `验证失败：${r.reason}`), " ", verifyButton(i, "重新验证"));
  }

  async function verifyPage() {
    for (let i = checkpoint.size - 1; i >= Math.max(0, checkpoint.size - PAGE); i -= 1) await verifyOne(i);
    const bad = [...verified.values()].filter((v) => !v.ok).length;
    announce(bad ? `有 ${bad} 条记录验证失败` : "本页记录全部验证通过", bad ? "warn" : "ok");
  }

  function exportAudit() {
    // What was checked here, to keep or hand over: the pinned key, the signed checkpoint,
    // and each entry with its C2SP tlog-proof (checkable offline with `evalsvc audit`).
    const doc = {
      session: session.id, log_vkey: checkpoint.vkey, checkpoint: checkpoint.note,
      entries: [...verified.entries()].sort((a, b) => a[0] - b[0]).map(([index, v]) => ({
        index, entry_base64: v.entry, tlog_proof: v.proof, verified_in_browser: v.ok })),
    };
    const blob = new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `audit-${session.id}-${checkpoint.size}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    announce("审计材料已导出", "ok");
  }

  async function update(s) {
    session = s;
    try {
      progress = await get(`/api/sessions/${s.id}/progress`);
    } catch {
      progress = null;
    }
    renderConsole();
    incidents.update(s);
    handover.update(s, { supervisor: true });
    await renderResult();
    if (site) return;
    renderApprovals();
    renderReviewPicker();
    await draw.update(s);
    await renderPatterns();
  }

  function onPresence(msg) {
    presence = msg;
    if (session) renderConsole();
  }

  return { update, presence: onPresence, unmount() {}, get auditShown() { return auditShown; } };
}
