// The draw ceremony in the browser (docs/draw.md): the primary operator opens it with the
// rules; every venue and the supervisor commit to a secret made here and reveal it after
// the commitment deadline (the supervisor last); then the seats, invitations with their
// deadlines and exhausted alternates. The secret never leaves this browser before the
// reveal: only SHA-256(lp(secret) ‖ lp(party) ‖ lp(ceremony)) does (experts/seed.py).

import { api, get } from "./api.js";
import { announce, confirmDialog, el } from "./dom.js";
import { ERROR_ZH, seatLabel, venueLabel } from "./i18n.js";
import { hex } from "./verify.js";

// Secrets are kept until revealed, outside the "evalsvc." keys a sign-out clears: losing
// one means this party cannot contribute to the seed.
const SECRET = "evalsvc-draw-secret.";
const PHASE_ZH = { none: "尚未开始", ceremony: "随机数仪式进行中", inviting: "邀请专家中", complete: "抽取完成", failed: "抽取失败" };
const SEAT_ZH = { confirmed: "已确认", invited: "已邀请", waiting: "等待抽取", exhausted: "候补已用尽" };

function lengthPrefixed(bytes) {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** The hex commitment to `secret` of `party` for ceremony `binding` ("s-…#1"). */
export async function commitmentDigest(secret, party, binding) {
  const enc = new TextEncoder();
  const parts = [lengthPrefixed(secret), lengthPrefixed(enc.encode(party)), lengthPrefixed(enc.encode(binding))];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    all.set(p, i);
    i += p.length;
  }
  return hex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", all)));
}

const when = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });
const partyLabel = (s, party) => (party === "supervisor" ? "监督" : venueLabel(s, party));

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A card for the operators' and the supervisor's workspaces; `update(s)` re-reads the draw. */
export function drawCard({ me, showProblem }) {
  const card = el("section", { class: "card", id: "draw", "aria-labelledby": "draw-h", hidden: true });
  let session = null;
  let form = null; // the open-draw form, kept while it is shown: typed values are not re-rendered
  const party = me.role === "supervisor" ? "supervisor" : me.venue;

  async function call(path, body, done) {
    try {
      await api("POST", `/api/sessions/${session.id}${path}`, { body, headers: { "Idempotency-Key": `draw-${crypto.randomUUID()}` } });
      announce(done, "ok");
      await update(session);
    } catch (err) {
      showProblem(`${ERROR_ZH[err.code] || "操作失败"}${err.field ? `（${err.field === "secret" ? "随机数" : "抽取设置"}）` : ""}`);
    }
  }

  async function commit(binding) {
    const ok = await confirmDialog({ title: "提交随机数承诺？",
      lines: ["本机将生成一个 256 位随机数，只提交它的 SHA-256 承诺；随机数保存在本浏览器中，承诺截止后再公开。",
        "承诺提交后不能更改。公开前请不要清除浏览器数据或更换电脑，否则本场地无法参与生成随机种子。"],
      confirm: "确认提交承诺" });
    if (!ok) return;
    const secret = globalThis.crypto.getRandomValues(new Uint8Array(32));
    localStorage.setItem(SECRET + binding + "." + party, hex(secret));
    await call("/draw/commitments", { digest: await commitmentDigest(secret, party, binding) }, "随机数承诺已提交");
  }

  async function reveal(binding) {
    const secret = localStorage.getItem(SECRET + binding + "." + party);
    if (!secret) {
      showProblem("本浏览器中没有本场地的随机数（可能已清除或在其他电脑上提交），无法公开");
      return;
    }
    const ok = await confirmDialog({ title: "公开随机数？", lines: ["公开后，各方的随机数共同决定抽取种子；公开后不能撤回。"], confirm: "确认公开" });
    if (!ok) return;
    await call("/draw/reveals", { secret }, "随机数已公开");
    localStorage.removeItem(SECRET + binding + "." + party);
  }

  function openForm() {
    const s = session;
    const now = new Date();
    const rows = s.venues.map((v) => el("div", { class: "reg-field" },
      el("label", { for: `d-spec-${v.id}` }, `${venueLabel(s, v.id)} 专业`),
      el("input", { id: `d-spec-${v.id}`, type: "text", value: "A01", "aria-describedby": "d-spec-hint" })));
    const f = (id, label, value, type = "text", extra = {}) => el("div", { class: "reg-field" },
      el("label", { for: id }, label), el("input", { id, type, value, ...extra, "aria-describedby": `${id}-err` }),
      el("span", { id: `${id}-err`, class: "field-error", hidden: true }));
    const form = el("form", { novalidate: true },
      // The tenderer, supervising departments and bidders come from the session (the
      // server refuses rules naming them, docs/draw.md §6.1).
      el("p", { class: "muted" }, `回避规则使用本项目登记的招标人（统一社会信用代码 ${s.tenderer_uscc || "—"}）和投标人。`),
      ...rows, el("span", { id: "d-spec-hint", class: "hint" }, "各场地席位抽取的专家专业代码"),
      f("d-alternates", "候补人数", "2", "text", { inputmode: "numeric" }),
      f("d-commit", "承诺截止时间", localInput(new Date(now.getTime() + 10 * 60_000)), "datetime-local", { step: "1" }),
      f("d-reveal", "公开截止时间", localInput(new Date(now.getTime() + 20 * 60_000)), "datetime-local", { step: "1" }),
      f("d-timeout", "专家答复时限（分钟）", "60", "text", { inputmode: "numeric" }),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "开启抽取仪式")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const errs = [];
      const val = (id) => document.getElementById(id).value.trim();
      const fail = (id, msg) => {
        errs.push(id);
        const e = document.getElementById(`${id}-err`);
        e.textContent = msg;
        e.hidden = false;
        document.getElementById(id).setAttribute("aria-invalid", "true");
      };
      for (const n of form.querySelectorAll(".field-error")) n.hidden = true;
      for (const n of form.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
      if (!/^[0-9]{1,2}$/.test(val("d-alternates"))) fail("d-alternates", "候补人数：应为 0 到 99 的整数");
      const commitAt = new Date(val("d-commit"));
      const revealAt = new Date(val("d-reveal"));
      if (Number.isNaN(commitAt.getTime()) || commitAt <= new Date()) fail("d-commit", "承诺截止时间：应晚于现在");
      if (Number.isNaN(revealAt.getTime()) || revealAt <= commitAt) fail("d-reveal", "公开截止时间：应晚于承诺截止时间");
      if (!/^[1-9][0-9]{0,4}$/.test(val("d-timeout"))) fail("d-timeout", "专家答复时限：应为正整数（分钟）");
      if (errs.length) {
        document.getElementById(errs[0]).focus();
        return;
      }
      const ok = await confirmDialog({ title: "开启抽取仪式？",
        lines: [`各场地和监督须在 ${when(commitAt)} 前提交随机数承诺，在 ${when(revealAt)} 前公开。`, "抽取规则开启后即固定，更改需监督批准。"],
        confirm: "确认开启" });
      if (!ok) return;
      const rules = {
        draw: { alternates: Number(val("d-alternates")) },
        venues: s.venues.map((v) => ({ id: v.id, name: v.name, region: v.region })),
        seats: s.venues.map((v) => ({ venue: v.id, specialty: val(`d-spec-${v.id}`) || "A01", count: v.seats })),
      };
      await call("/draw", { rules, commit_deadline: commitAt.toISOString(), reveal_deadline: revealAt.toISOString(),
        invitation_timeout_seconds: Number(val("d-timeout")) * 60 }, "抽取仪式已开启");
    });
    return form;
  }

  // --- the supervisor's approvals (docs/draw.md §6.2, §6.8): nothing restarts without one --

  let approval = null; // {key, node}: kept while its situation lasts, so typed reasons stay
  const MATCH_ZH = { tender_number: "招标项目编号相同", tenderer_title: "招标人和项目名称相同", tenderer_bidders: "招标人和投标人相同" };
  const STATE_ZH = { aborted: "已终止", sealed: "已封存" };
  const APPROVAL_ZH = { reopen: "重新开启随机数仪式", change_terms: "采用新的抽取条件", retender: "同一招标项目重新抽取" };

  function approvalForm(kind, ceremony) {
    const retender = kind === "retender";
    const err = el("span", { id: "appr-d-err", class: "field-error", hidden: true });
    const reason = el("textarea", { id: "appr-d-reason", rows: "2", "aria-describedby": "appr-d-err" });
    const digest = el("input", { id: "appr-d-terms", type: "text", class: "hash-input", autocomplete: "off", spellcheck: "false", "aria-describedby": "appr-d-terms-hint appr-d-err" });
    const choice = (value, text, checked) => el("div", { class: "check" },
      el("input", { type: "radio", id: `appr-d-${value}`, name: "appr-d-action", value, checked }), el("label", { for: `appr-d-${value}` }, text));
    const node = el("form", { id: "draw-approval", novalidate: true, "aria-labelledby": "appr-d-h" },
      el("h3", { id: "appr-d-h" }, retender ? "监督审批：同一招标项目重新抽取" : `监督审批：第 ${ceremony} 次抽取之后`),
      el("p", { class: "muted" }, retender
        ? "本项目与下列已登记的项目属于同一招标项目。再次抽取须经监督批准并写明原因（防止主场通过重新登记换取新的抽取结果）。"
        : "抽取未能完成。重新开启仪式、或改用新的抽取条件，均须经监督批准并写明原因。"),
      retender ? "" : el("fieldset", { class: "bid" }, el("legend", {}, "批准事项"),
        choice("reopen", "重新开启随机数仪式（沿用原抽取条件）", true), choice("change_terms", "批准新的抽取条件", false),
        el("label", { for: "appr-d-terms" }, "新抽取条件的 SHA-256"), digest,
        el("span", { id: "appr-d-terms-hint", class: "muted" }, "主场提交新条件被拒时的提示中给出；64 位十六进制，仅在“批准新的抽取条件”时填写")),
      el("label", { for: "appr-d-reason" }, "批准原因"), reason, err,
      el("div", { class: "actions" }, el("button", { type: "submit" }, retender ? "批准重新抽取" : "批准")));
    node.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const action = retender ? "retender" : node.querySelector("input[name=appr-d-action]:checked").value;
      const text = reason.value.trim();
      const terms = digest.value.trim().toLowerCase();
      let message = "";
      let bad = reason;
      if (action === "change_terms" && !/^[0-9a-f]{64}$/.test(terms)) {
        message = "新抽取条件的 SHA-256：应为 64 位十六进制数字";
        bad = digest;
      } else if (!text) message = "批准原因：请填写";
      err.textContent = message;
      err.hidden = !message;
      for (const n of [reason, digest]) n.removeAttribute("aria-invalid");
      if (message) {
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
        return;
      }
      const ok = await confirmDialog({ title: `批准${APPROVAL_ZH[action]}？`, confirm: "确认批准",
        lines: [retender ? "主场之后可以为本项目开启第一次随机数仪式；批准和原因写入审计日志，前次项目的抽取记录仍然保留。"
          : action === "reopen" ? "主场之后可以开启下一次随机数仪式，各方重新生成随机数；批准和原因写入审计日志。"
            : `主场之后可以按摘要为 ${terms} 的新条件开启仪式；批准和原因写入审计日志。`, `批准原因：${text}`] });
      if (!ok) return;
      approval = null;
      await call("/draw/approvals", { action, reason: text, ...(action === "change_terms" ? { terms_sha256: terms } : {}) }, "已批准，等待主场开启抽取");
    });
    return node;
  }

  function supervisorParts(s, d) {
    const parts = [];
    const earlier = d.earlier_sessions || [];
    if (earlier.length) {
      parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "同一招标项目的已登记项目" },
        el("table", {}, el("caption", {}, "同一招标项目的已登记项目"),
          el("thead", {}, el("tr", {}, ...["项目编号", "状态", "关联依据", "曾邀请或入席的专家"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, earlier.map((e) => el("tr", {}, el("th", { scope: "row" }, e.session_id),
            el("td", {}, STATE_ZH[e.state] || "进行中"), el("td", {}, MATCH_ZH[e.matched_by] || "—"),
            el("td", {}, `${(e.invited || []).length} 人`)))))));
    }
    if (d.approval) {
      parts.push(el("p", { class: "ok-text" }, `已批准${APPROVAL_ZH[d.approval.action] || ""}（原因：${d.approval.reason}），等待主场开启抽取。`));
      approval = null;
      return parts;
    }
    let kind = null;
    if (d.phase === "none" && earlier.length && s.state === "drawing") kind = "retender";
    // Exhausted alternates need no approval: the primary opens a new ceremony (§6.4).
    else if (d.phase === "failed") kind = "after";
    if (!kind) {
      approval = null;
      return parts;
    }
    if (d.phase === "failed") parts.push(el("p", { class: "flag" }, `第 ${d.ceremony_number} 次随机数仪式未能完成（有参与方未按时提交或公开随机数，或没有符合条件的专家），抽取未产生结果。`));
    const key = `${kind}|${d.ceremony_number || 0}`;
    if (!approval || approval.key !== key) approval = { key, node: approvalForm(kind, d.ceremony_number) };
    parts.push(approval.node);
    return parts;
  }

  /** Render for `s`; → the draw's phase ("none" before any ceremony), null when unknown. */
  async function update(s) {
    session = s;
    const primary = me.role === "operator" && me.venue === s.venues.find((v) => v.primary).id;
    if (s.state === "draft") {
      card.hidden = true;
      return;
    }
    let d;
    try {
      d = await get(`/api/sessions/${s.id}/draw`);
    } catch {
      card.hidden = true;
      return;
    }
    const supervisorNeeded = me.role === "supervisor" && s.state === "drawing" && (d.earlier_sessions || []).length > 0;
    card.hidden = d.phase === "none" && !(primary && s.state === "drawing") && !supervisorNeeded;
    if (card.hidden) return d.phase;
    const parts = [el("h2", { id: "draw-h" }, "专家抽取"), el("p", {}, `状态：${PHASE_ZH[d.phase] || "未知"}`)];
    if (primary && d.approval) parts.push(el("p", { class: "ok-text" }, `监督已批准${APPROVAL_ZH[d.approval.action] || ""}（原因：${d.approval.reason}）。`));
    if (d.phase === "none" && primary && s.state === "drawing") {
      if (form && form.isConnected) return d.phase;
      form = openForm();
      parts.push(el("p", {}, "请设置抽取规则并开启随机数仪式：各场地和监督各自生成随机数，共同决定抽取结果，任何一方都无法单独控制。"), form);
    }
    if (d.ceremony) {
      const c = d.ceremony;
      const binding = `${s.id}#${d.ceremony_number}`;
      parts.push(el("p", {}, `承诺截止 ${when(c.commit_deadline)}，公开截止 ${when(c.reveal_deadline)}（监督最后公开）`));
      parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "随机数仪式各方" },
        el("table", {}, el("caption", {}, "随机数仪式各方"),
          el("thead", {}, el("tr", {}, ...["参与方", "承诺", "公开"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, c.parties.map((p) => el("tr", {}, el("th", { scope: "row" }, partyLabel(s, p)),
            el("td", {}, c.committed.includes(p) ? "已提交" : "未提交"), el("td", {}, c.revealed.includes(p) ? "已公开" : "未公开")))))));
      const actions = el("div", { class: "actions" });
      if (c.parties.includes(party) && !c.committed.includes(party)) {
        actions.append(el("button", { type: "button", onclick: () => commit(binding) }, "提交随机数承诺"));
      } else if (c.committed.includes(party) && !c.revealed.includes(party)) {
        actions.append(el("button", { type: "button", onclick: () => reveal(binding) }, "公开随机数"));
        if (new Date() <= new Date(c.commit_deadline)) actions.append(el("span", { class: "muted" }, `（${when(c.commit_deadline)} 后才能公开）`));
      }
      parts.push(actions);
    }
    if (d.seats.length && d.phase !== "ceremony") {
      parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "抽取结果与邀请" },
        el("table", {}, el("caption", {}, "抽取结果与邀请"),
          el("thead", {}, el("tr", {}, ...["席位", "场地", "状态", "答复截止"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, d.seats.map((x) => el("tr", {}, el("th", { scope: "row" }, seatLabel(x.seat)),
            el("td", {}, venueLabel(s, x.venue_id)), el("td", {}, `${SEAT_ZH[x.status] || "未知"}${x.expert_id ? ` · ${x.expert_id}` : ""}`),
            el("td", {}, x.deadline ? when(x.deadline) : "—")))))));
      if (d.exhausted.length) parts.push(el("p", { class: "flag" }, `候补已用尽：${d.exhausted.map(seatLabel).join("、")}，需重新抽取`));
    }
    if (me.role === "supervisor") parts.push(...supervisorParts(s, d));
    card.replaceChildren(...parts);
    return d.phase; // the designation card offers proposals only while no ceremony exists
  }

  return { card, update };
}
