// Site supervision (现场监督), docs/api.md "Supervision by scope": a venue's site
// supervisor records what happens in its room — category, when, what — as an
// `incident.recorded` event; the tender's supervisor records at the venue it names and
// reads every venue's. The list is the session document's `incidents` (the server keeps
// only those the reader may see). A form, never prompt(); what a person typed stays until
// it is submitted.

import { el } from "./dom.js";
import { INCIDENT_ZH, venueLabel } from "./i18n.js";

// From the draw up to the report (machine.py "record_incident"); paused from one of them.
const OPEN = ["drawing", "ready", "checking_in", "evaluating", "aggregating"];

/** Whether incidents may be recorded in session ``s`` now. */
export function recording(s) {
  const state = s.state === "paused" && s.paused ? s.paused.from_state : s.state;
  return OPEN.includes(state);
}

/** ``YYYY-MM-DDTHH:MM`` of a Date in the browser's time zone (a datetime-local value). */
export function localInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Why the time of an incident is refused, or "" (the server checks it again). */
export function whenProblem(value, now = new Date()) {
  if (!value) return "请填写发生时间";
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return "时间格式不正确";
  if (t.getTime() > now.getTime() + 60_000) return "发生时间不能晚于现在";
  return "";
}

function fieldError(node, err, message) {
  err.textContent = message;
  err.hidden = !message;
  if (message) node.setAttribute("aria-invalid", "true");
  else node.removeAttribute("aria-invalid");
}

/**
 * The incidents card. ``command(body, done)`` runs a command over the protocol client
 * and resolves to true once it is acknowledged.
 */
export function incidentCard({ me, command }) {
  const site = me.role === "site_supervisor";
  const card = el("section", { class: "card", id: "incidents", "aria-labelledby": "inc-h" },
    el("h2", { id: "inc-h" }, "现场监督记录"));
  const category = el("select", { id: "inc-category", "aria-describedby": "inc-category-err" },
    el("option", { value: "" }, "请选择"),
    ...Object.entries(INCIDENT_ZH).map(([k, v]) => el("option", { value: k }, v)));
  const categoryErr = el("span", { id: "inc-category-err", class: "field-error", hidden: true });
  const when = el("input", { id: "inc-when", type: "datetime-local", "aria-describedby": "inc-when-err" });
  const whenErr = el("span", { id: "inc-when-err", class: "field-error", hidden: true });
  const text = el("textarea", { id: "inc-text", rows: "3", maxlength: "4000", "aria-describedby": "inc-text-err" });
  const textErr = el("span", { id: "inc-text-err", class: "field-error", hidden: true });
  const venue = el("select", { id: "inc-venue", "aria-describedby": "inc-venue-err" });
  const venueErr = el("span", { id: "inc-venue-err", class: "field-error", hidden: true });
  const list = el("div", { id: "inc-list" });
  const form = el("form", { id: "inc-form", novalidate: true },
    el("h3", {}, site ? "记录本场地的现场情况" : "记录现场情况"),
    site ? "" : el("div", { class: "field" }, el("label", { for: "inc-venue" }, "场地"), venue, venueErr),
    el("div", { class: "field" }, el("label", { for: "inc-category" }, "类别"), category, categoryErr),
    el("div", { class: "field" }, el("label", { for: "inc-when" }, "发生时间"), when, whenErr),
    el("div", { class: "field" }, el("label", { for: "inc-text" }, "情况说明"), text, textErr),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "提交记录")));
  card.append(list, form);
  let session = null;
  let key = null;

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const problems = [
      [category, categoryErr, category.value ? "" : "请选择类别"],
      [when, whenErr, whenProblem(when.value)],
      [text, textErr, text.value.trim() ? "" : "请填写情况说明"],
      ...(site ? [] : [[venue, venueErr, venue.value ? "" : "请选择场地"]]),
    ];
    for (const [node, err, msg] of problems) fieldError(node, err, msg);
    const first = problems.find(([, , msg]) => msg);
    if (first) {
      first[0].focus();
      return;
    }
    const body = { command: "record_incident", category: category.value, text: text.value.trim(),
      occurred_at: new Date(when.value).toISOString() };
    if (!site) body.venue_id = venue.value;
    if (await command(body, "现场监督记录已提交")) {
      text.value = "";
      category.value = "";
      when.value = localInput(new Date());
    }
  });

  function render(s) {
    const items = s.incidents || [];
    const rows = items.map((x) => el("tr", {},
      el("th", { scope: "row" }, String(x.id)),
      el("td", {}, venueLabel(s, x.venue_id)),
      el("td", {}, INCIDENT_ZH[x.category] || x.category),
      el("td", {}, new Date(x.occurred_at * 1000).toLocaleString("zh-CN", { hour12: false })),
      el("td", { class: "wrap" }, x.text)));
    list.replaceChildren(items.length
      ? el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "现场监督记录" },
        el("table", { id: "inc-table" }, el("caption", {}, site ? "本场地的现场监督记录" : "各场地的现场监督记录"),
          el("thead", {}, el("tr", {}, ...["序号", "场地", "类别", "发生时间", "情况"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows)))
      : el("p", { class: "muted" }, "尚无现场监督记录。"));
  }

  function update(s) {
    session = s;
    const open = recording(s);
    form.hidden = !open;
    if (!when.value) when.value = localInput(new Date());
    if (!site && venue.options.length !== s.venues.length + 1) {
      venue.replaceChildren(el("option", { value: "" }, "请选择"),
        ...s.venues.map((v) => el("option", { value: v.id }, venueLabel(s, v.id))));
    }
    const k = JSON.stringify([s.incidents || [], open]);
    if (k === key) return;
    key = k;
    render(session);
  }

  return { card, update };
}
