// Opening one masked field of the pool snapshot, on the record (docs/audit.md "Opening one
// field, on the record"): the tender's supervisor names the expert, the field and why;
// the server records pool.field_opened (never the value) and answers with the value and
// its salt, shown here once. A form, never prompt(); the reason typed stays until sent.

import { api } from "./api.js";
import { announce, el } from "./dom.js";
import { ERROR_ZH, POOL_FIELD_ZH } from "./i18n.js";

const MAX_REASON = 500;

/** Why the form's values are refused, by field id suffix, or {} (the server checks again). */
export function openingProblems({ expert, field, reason }) {
  const out = {};
  if (!expert.trim() || expert.trim().length > 64) out.expert = "请填写专家库中的专家编号（不超过 64 个字符）";
  if (!(field in POOL_FIELD_ZH)) out.field = "请选择要开启的字段";
  if (!reason.trim() || reason.length > MAX_REASON) out.reason = `请写明开启理由（不超过 ${MAX_REASON} 字），它将记入审计日志`;
  return out;
}

const SERVER_FIELD = { expert_id: "expert", field: "field", reason: "reason" };

/** The card; ``sessionId()`` is the session shown now. */
export function openingCard({ sessionId }) {
  const inputs = {
    expert: el("input", { id: "open-expert", type: "text", maxlength: "64", autocomplete: "off", spellcheck: "false", "aria-describedby": "open-expert-err" }),
    field: el("select", { id: "open-field", "aria-describedby": "open-field-err" },
      ...Object.entries(POOL_FIELD_ZH).map(([k, v]) => el("option", { value: k }, v))),
    reason: el("textarea", { id: "open-reason", rows: "2", maxlength: String(MAX_REASON), "aria-describedby": "open-reason-err" }),
  };
  const errs = Object.fromEntries(Object.keys(inputs).map((k) =>
    [k, el("span", { id: `open-${k}-err`, class: "field-error", hidden: true })]));
  const result = el("div", { id: "open-result", role: "status" });
  const labels = { expert: "专家编号", field: "字段", reason: "开启理由" };
  const form = el("form", { id: "open-form", novalidate: true },
    ...Object.keys(inputs).map((k) => el("div", { class: "field" },
      el("label", { for: `open-${k}` }, labels[k]), inputs[k], errs[k])),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "开启并记入审计日志")));
  const card = el("section", { class: "card", id: "pool-opening", "aria-labelledby": "open-h" },
    el("h2", { id: "open-h" }, "开启专家库遮蔽字段"),
    el("p", { class: "muted" }, "专家库快照中的姓名、身份证号、工作单位和职称以承诺形式保存。开启其中一项会先记入审计日志（专家、字段、理由，不含内容），其他角色只能看到有一次开启。"),
    form, result);

  function show(errors) {
    for (const k of Object.keys(inputs)) {
      const msg = errors[k] || "";
      errs[k].textContent = msg;
      errs[k].hidden = !msg;
      if (msg) inputs[k].setAttribute("aria-invalid", "true");
      else inputs[k].removeAttribute("aria-invalid");
    }
    const first = Object.keys(inputs).find((k) => errors[k]);
    if (first) inputs[first].focus();
    return Boolean(first);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const values = { expert: inputs.expert.value, field: inputs.field.value, reason: inputs.reason.value };
    if (show(openingProblems(values))) return;
    try {
      const r = await api("POST", `/api/sessions/${sessionId()}/audit/pool-openings`, {
        body: { expert_id: values.expert.trim(), field: values.field, reason: values.reason.trim() } });
      const o = r.opening;
      result.replaceChildren(
        el("p", {}, `已记入审计日志（序号 ${r.seq}）：专家 ${o.expert} 的${POOL_FIELD_ZH[o.field]}为「${String(o.value)}」。`),
        el("p", { class: "muted" }, "核验（离线）：将以下内容存为文件，运行 evalsvc audit verify 审计包 --opening 文件。"),
        el("code", { class: "hash", id: "open-json" }, JSON.stringify(o)));
      inputs.reason.value = "";
      announce("已开启并记入审计日志", "ok");
    } catch (err) {
      result.replaceChildren();
      if (err.code === "not_found") {
        show({ expert: "本会话的专家库快照中没有该专家这一字段的承诺" });
      } else if (err.code === "invalid_input" && SERVER_FIELD[err.field]) {
        show({ [SERVER_FIELD[err.field]]: openingProblems({ expert: "", field: "", reason: "" })[SERVER_FIELD[err.field]] });
      } else {
        result.replaceChildren(el("p", { class: "field-error" }, ERROR_ZH[err.code] || "开启失败"));
      }
    }
  });
  return { card };
}
