// Small DOM helpers shared by the workspaces: element building (text only, never HTML),
// modal confirmation dialogs, the error summary and the status line.

export const $ = (id) => document.getElementById(id);

/** el("button", {class: "x", onclick: fn}, "text", child…): attributes, then children. */
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "value" || k === "disabled") n[k] = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

/** Say `text` beside the field `id` (its `${id}-err` node) and mark it invalid; no text
 * clears both. → whether the field is good. */
export function fieldProblem(id, text) {
  const e = $(`${id}-err`);
  e.textContent = text || "";
  e.hidden = !text;
  if (text) $(id).setAttribute("aria-invalid", "true");
  else $(id).removeAttribute("aria-invalid");
  return !text;
}

/** A polite status line (successes, progress): read out, does not move focus. */
export function announce(text, kind = "ok") {
  const problem = $("problem");
  if (problem && text) problem.hidden = true; // a newer outcome replaces an older failure
  const box = $("notice");
  box.className = `notice ${kind}`;
  box.textContent = text;
  box.hidden = !text;
}

/**
 * A modal confirmation for an irreversible step: says what will happen, names the
 * action on its button. Resolves true only on that button; Esc or 取消 is false.
 * With `input`, resolves the trimmed text typed (required) or null.
 */
export function confirmDialog({ title, lines = [], confirm, danger = false, input = null }) {
  return new Promise((resolve) => {
    const dlg = el("dialog", { class: "confirm", "aria-labelledby": "dlg-title" });
    const form = el("form", { method: "dialog", novalidate: true });
    let field = null;
    let err = null;
    form.append(el("h2", { id: "dlg-title" }, title));
    for (const l of lines) form.append(el("p", {}, l));
    if (input) {
      field = el("textarea", { id: "dlg-input", rows: "3", required: true, "aria-describedby": "dlg-err" });
      err = el("p", { id: "dlg-err", class: "field-error", hidden: true });
      form.append(el("label", { for: "dlg-input" }, input), field, err);
    }
    const ok = el("button", { type: "submit", value: "ok", class: danger ? "danger" : "" }, confirm);
    const cancel = el("button", { type: "button", class: "secondary" }, "取消");
    form.append(el("div", { class: "actions" }, ok, cancel));
    dlg.append(form);
    document.body.append(dlg);
    let result = input ? null : false;
    cancel.addEventListener("click", () => dlg.close());
    form.addEventListener("submit", (ev) => {
      if (field) {
        const text = field.value.trim();
        if (!text) {
          ev.preventDefault();
          err.hidden = false;
          err.textContent = `请填写${input}`;
          field.setAttribute("aria-invalid", "true");
          field.focus();
          return;
        }
        result = text;
      } else {
        result = true;
      }
    });
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(result);
    });
    dlg.showModal();
    (field || ok).focus();
  });
}

/**
 * The error summary: a heading, one link per bad field; it takes focus so a screen
 * reader and a sighted person both land on it after a failed submit.
 */
export function showErrorSummary(box, errors, heading) {
  box.replaceChildren();
  if (!errors.length) {
    box.hidden = true;
    return;
  }
  const list = el("ul");
  for (const e of errors) {
    const target = e.id ? document.getElementById(e.id) : null;
    list.append(el("li", {}, target ? el("a", {
      href: `#${e.id}`,
      onclick: (ev) => {
        ev.preventDefault();
        target.focus();
      },
    }, `${e.label}：${e.message}`) : `${e.label ? `${e.label}：` : ""}${e.message}`));
  }
  box.append(el("h2", {}, heading || `有 ${errors.length} 处需要修改`), list);
  box.hidden = false;
  box.focus();
}
