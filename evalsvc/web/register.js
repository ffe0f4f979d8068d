// The primary operator registers a session: tender data, method, venues and seats, bids
// (typed or pasted from a spreadsheet), criteria with points and guidance. Every bad field is marked
// beside itself and listed in a summary that takes focus; the server's answer too.

import { ApiError, api } from "./api.js";
import { $, el, showErrorSummary } from "./dom.js";
import { ERROR_ZH, REGION_ZH } from "./i18n.js";
import { GUIDANCE_MAX, buildRegistration, parsePastedBids, regFieldId, regFieldLabel } from "./registration.js";
import { messageId } from "./store.js";

const REGIONS = Object.entries(REGION_ZH);
const CATEGORIES = [["technical", "技术"], ["commercial", "商务"], ["price", "价格"], ["qualification", "资格（通过/不通过）"],
  ["compliance", "符合性（通过/不通过）"]];
const FORMULAS = [["lowest_price_ratio", "最低价比值法（满分 × 最低评标价 ÷ 报价）"], ["average_benchmark", "评标基准价法（按偏离基准价扣分）"]];
const STAGES = [["combined", "一次详细评审（技术、商务、价格一并打分）"], ["split", "技术、商务分两阶段评审，各自锁定"]];

function checkbox(path, label, hint) {
  const id = regFieldId(path);
  return el("div", { class: "reg-field" },
    el("label", { for: id }, el("input", { id, type: "checkbox", "data-path": path, "aria-describedby": `${id}-hint ${id}-err` }), ` ${label}`),
    el("span", { id: `${id}-hint`, class: "hint" }, hint),
    el("span", { id: `${id}-err`, class: "field-error", hidden: true }));
}

function field(path, label, { value = "", type = "text", options = null, inputmode = null, hint = null, rows = null } = {}) {
  const id = regFieldId(path);
  const described = `${id}-err${hint ? ` ${id}-hint` : ""}`;
  const input = options
    ? el("select", { id, "data-path": path, "aria-describedby": `${id}-err` }, options.map(([v, t]) => el("option", { value: v }, t)))
    : rows ? el("textarea", { id, rows, "data-path": path, maxlength: String(GUIDANCE_MAX), "aria-describedby": described })
      : el("input", { id, type, "data-path": path, inputmode, autocomplete: "off", "aria-describedby": described });
  if (value) input.value = value;
  return el("div", { class: "reg-field" }, el("label", { for: id }, label), input,
    hint ? el("span", { id: `${id}-hint`, class: "hint" }, hint) : "",
    el("span", { id: `${id}-err`, class: "field-error", hidden: true }));
}

/** Show the registration form in `box`; `done(sessionId)` after the server stored it. */
export function showRegistration(box, me, done) {
  let secondary = 1;
  let bids = 1;
  let criteria = 3;
  const summary = el("div", { id: "reg-errors", class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
  const venues = el("div");
  const bidBox = el("div");
  const critBox = el("div");

  function venueRow(i) {
    const p = `secondary_venues/${i}`;
    return el("fieldset", { class: "bid" }, el("legend", {}, `副场 ${i + 1}`),
      field(`${p}/id`, "编号", { hint: "例如 js-suzhou" }), field(`${p}/name`, "名称"),
      field(`${p}/region`, "地区", { options: REGIONS }), field(`${p}/city`, "城市"),
      field(`${p}/seats`, "席位数", { inputmode: "numeric" }));
  }
  function bidRow(i, b = {}) {
    const p = `bids/${i}`;
    return el("fieldset", { class: "bid" }, el("legend", {}, `投标 ${i + 1}`),
      field(`${p}/id`, "编号", { value: b.id || `B${i + 1}` }), field(`${p}/bidder`, "投标人", { value: b.bidder }),
      field(`${p}/uscc`, "统一社会信用代码", { value: b.uscc, hint: "18 位，含校验位" }),
      field(`${p}/price_fen`, "报价（元）", { value: b.price, inputmode: "decimal" }));
  }
  function critRow(i, c = {}) {
    const p = `criteria/${i}`;
    const row = el("fieldset", { class: "bid" }, el("legend", {}, `评分项 ${i + 1}`),
      field(`${p}/id`, "编号", { value: c.id }), field(`${p}/name`, "名称", { value: c.name }),
      field(`${p}/category`, "类别", { options: CATEGORIES }), field(`${p}/max_points`, "分值", { value: c.max_points, inputmode: "decimal" }),
      field(`${p}/guidance`, "评分指引（选填）", { value: c.guidance, rows: "2",
        hint: `专家评分时在该项旁看到，例如各档分值的标准；最多 ${GUIDANCE_MAX} 字，暗标项目不得出现投标人名称` }));
    if (c.category) row.querySelector("select").value = c.category;
    return row;
  }
  function renderRows() {
    venues.replaceChildren(...Array.from({ length: secondary }, (_, i) => venueRow(i)));
    bidBox.replaceChildren(...Array.from({ length: bids }, (_, i) => bidRow(i)));
  }
  const value = (path) => {
    const n = $(regFieldId(path));
    return n ? n.value : "";
  };
  function collect() {
    const v = (p) => ({ id: value(`${p}/id`), name: value(`${p}/name`), region: value(`${p}/region`), city: value(`${p}/city`), seats: value(`${p}/seats`) });
    return {
      title: value("title"), tenderer: value("tenderer"), method: value("method"),
      tender_number: value("tender_number"), tenderer_uscc: value("tenderer_uscc"),
      stages: value("stages"), anonymous: Boolean($(regFieldId("anonymous"))?.checked), price_formula: value("price_formula"),
      benchmark: { factor: value("rules/average_benchmark/factor"), deduct_above: value("rules/average_benchmark/deduct_above"),
        deduct_below: value("rules/average_benchmark/deduct_below"), floor: value("rules/average_benchmark/floor"),
        drop_extremes: Boolean($(regFieldId("rules/average_benchmark/drop_extremes"))?.checked) },
      primary: { ...v("primary_venue"), id: me.venue },
      secondary: Array.from({ length: secondary }, (_, i) => v(`secondary_venues/${i}`)),
      bids: Array.from({ length: bids }, (_, i) => ({ id: value(`bids/${i}/id`), bidder: value(`bids/${i}/bidder`),
        uscc: value(`bids/${i}/uscc`), price: value(`bids/${i}/price_fen`) })),
      criteria: Array.from({ length: criteria }, (_, i) => ({ id: value(`criteria/${i}/id`), name: value(`criteria/${i}/name`),
        category: value(`criteria/${i}/category`), max_points: value(`criteria/${i}/max_points`),
        guidance: value(`criteria/${i}/guidance`) })),
    };
  }
  function mark(errors) {
    for (const n of box.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
    for (const n of box.querySelectorAll(".field-error")) n.hidden = true;
    const listed = errors.map((e) => {
      const id = regFieldId(e.field);
      const input = $(id);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const err = $(`${id}-err`);
        err.textContent = e.message;
        err.hidden = false;
      }
      return { id: input ? id : null, label: e.label, message: e.message };
    });
    showErrorSummary(summary, listed, `项目未登记：有 ${listed.length} 处需要修改`);
  }
  async function submit(ev) {
    ev.preventDefault();
    const { doc, errors } = buildRegistration(collect());
    mark(errors);
    if (errors.length) return;
    try {
      const r = await api("POST", "/api/sessions", { body: doc, headers: { "Idempotency-Key": messageId("register") } });
      done(r.id);
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) {
        mark(err.errors.map((e) => ({ field: e.field, label: regFieldLabel(e.field), message: "服务器不接受此值，请核对" })));
      } else {
        mark([{ field: err.field || "title", label: err.field ? regFieldLabel(err.field) : "登记", message: ERROR_ZH[err.code] || "登记失败" }]);
      }
    }
  }
  const paste = el("textarea", { id: "r-paste", rows: "3", "aria-describedby": "r-paste-hint" });
  const form = el("form", { id: "register-form", novalidate: true, onsubmit: submit },
    summary,
    el("fieldset", { class: "bid" }, el("legend", {}, "招标项目"),
      field("title", "项目名称"), field("tender_number", "招标项目编号", { hint: "例如 CSJ-2026-ZHSW-0007" }),
      field("tenderer", "招标人"), field("tenderer_uscc", "招标人统一社会信用代码", { hint: "18 位，含校验位" }),
      field("method", "评标方法", { options: [["weighted_scoring", "综合评估法"], ["lowest_evaluated_price", "经评审的最低投标价法"]] }),
      field("stages", "评审阶段", { options: STAGES }),
      checkbox("anonymous", "暗标", "技术标评审时专家只见暗标编号，不见投标人名称（须分两阶段评审）"),
      field("price_formula", "价格分计算方法", { options: FORMULAS })),
    el("fieldset", { class: "bid" }, el("legend", {}, "评标基准价法参数（选用该方法时填写，留空取默认值）"),
      field("rules/average_benchmark/factor", "基准价系数", { inputmode: "decimal", hint: "评标基准价 = 有效报价算术平均值 × 系数，默认 1" }),
      checkbox("rules/average_benchmark/drop_extremes", "去掉最高价和最低价", "报价不少于 5 家时"),
      field("rules/average_benchmark/deduct_above", "高于基准价每 1% 扣分", { inputmode: "decimal", hint: "默认 1" }),
      field("rules/average_benchmark/deduct_below", "低于基准价每 1% 扣分", { inputmode: "decimal", hint: "默认 0.5" }),
      field("rules/average_benchmark/floor", "价格分最低分", { inputmode: "decimal", hint: "默认 0" })),
    el("fieldset", { class: "bid" }, el("legend", {}, `主场（本场地）`),
      field("primary_venue/name", "名称"), field("primary_venue/region", "地区", { options: REGIONS }),
      field("primary_venue/city", "城市"), field("primary_venue/seats", "席位数", { inputmode: "numeric" })),
    el("h3", {}, "副场"), venues,
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => {
      secondary += 1;
      venues.append(venueRow(secondary - 1));
    } }, "添加副场")),
    el("h3", {}, "投标"), bidBox,
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => {
      bids += 1;
      bidBox.append(bidRow(bids - 1));
    } }, "添加投标")),
    el("label", { for: "r-paste" }, "从表格粘贴投标"), paste,
    el("span", { id: "r-paste-hint", class: "hint" }, "每行：编号、投标人、统一社会信用代码、报价（元），用制表符或逗号分隔（从 Excel 复制即可）。"),
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => {
      const rows = parsePastedBids(paste.value);
      if (!rows.length) return;
      bids = rows.length;
      bidBox.replaceChildren(...rows.map((b, i) => bidRow(i, b)));
      paste.value = "";
    } }, "导入粘贴的投标")),
    el("h3", {}, "评分项"), critBox,
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => {
      criteria += 1;
      critBox.append(critRow(criteria - 1));
    } }, "添加评分项")),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "登记项目")));
  renderRows();
  critBox.replaceChildren(critRow(0, { id: "Q1", name: "资格条件", category: "qualification" }),
    critRow(1, { id: "T1", name: "技术方案", category: "technical", max_points: "60" }),
    critRow(2, { id: "P1", name: "投标报价", category: "price", max_points: "40" }));
  box.replaceChildren(el("section", { class: "card", "aria-labelledby": "reg-h" }, el("h2", { id: "reg-h", tabindex: "-1" }, "登记新评标项目"), form));
  $("reg-h").focus();
}
