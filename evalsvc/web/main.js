// The app shell: sign-in (a demo link's #token=…, or a pasted token), sign-out, the list
// of sessions, and one workspace per role over the session's protocol client.

import { ApiError, api, get, setToken } from "./api.js";
import { SessionClient } from "./client.js";
import { $, announce, confirmDialog, el, fieldProblem } from "./dom.js";
import { CERT_LOGIN_ERROR_ZH, ERROR_ZH, KEY_ALGORITHM_ZH, KEY_ERROR_ZH, METHOD_ZH, ROLE_ZH, describeEvent, stateLabel, venueLabel } from "./i18n.js";
import { KeyFileError, certificateLogin, loadSigner } from "./certkey.js";
import * as keyring from "./keyring.js";
import { Outbox, clearAll, tokenStore } from "./store.js";
import { showRegistration } from "./register.js";
import * as expert from "./expert.js";
import * as operator from "./operator.js";
import * as supervisor from "./supervisor.js";

// A venue's site supervisor (现场监督) has the supervisor's workspace, reduced.
const WORKSPACES = { expert, operator, supervisor, site_supervisor: supervisor };
// What a secondary venue sees before the project is disclosed to it (the server sends no title).
const UNNAMED = "名称暂不公开的项目";
let me = null;
let client = null;
let workspace = null;
let outbox = null;
let listedOnce = false; // a single session opens by itself the first time only

function showProblem(text) {
  const box = $("problem");
  box.textContent = text || "";
  box.hidden = !text;
  if (text) box.focus();
}

function liveText(status) {
  const waiting = outbox ? outbox.all().length : 0;
  const queued = waiting ? `，${waiting} 份待发送` : "";
  switch (status) {
    case "live": return { text: `实时同步${queued}`, cls: "live on" };
    case "connecting": return { text: `正在连接…${queued}`, cls: "live" };
    case "offline": return { text: `网络中断，恢复后自动同步${queued}`, cls: "live off" };
    case "refused": return { text: "连接被拒绝，请重新登录", cls: "live off" };
    default: return { text: "", cls: "live" };
  }
}

export function refreshLive() {
  const l = $("live");
  if (!client) {
    l.hidden = true;
    return;
  }
  const { text, cls } = liveText(client.status);
  l.hidden = !text;
  l.className = cls;
  l.textContent = text;
}

async function signIn(token) {
  setToken(token);
  try {
    me = await get("/api/me");
  } catch (err) {
    setToken("");
    tokenStore.clear(sessionStorage);
    $("login").hidden = false;
    const msg = err instanceof ApiError ? ERROR_ZH[err.code] || "登录失败" : "登录失败";
    const e = $("token-err");
    e.textContent = `访问令牌：${msg}`;
    e.hidden = false;
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
    return;
  }
  tokenStore.set(sessionStorage, token);
  $("login").hidden = true;
  $("token").value = "";
  $("token-err").hidden = true;
  $("token").removeAttribute("aria-invalid");
  $("who").textContent = `${me.name}（${ROLE_ZH[me.role] || ""}）`;
  $("signout").hidden = false;
  await listInvitations();
  await listSessions();
}

const INVITATION_ZH = { pending: "待答复", accepted: "已接受", declined: "已谢绝", expired: "已过期", withdrawn: "已撤回" };

/** An expert's invitations (time and venue only, 四不知): accept or decline each. */
async function listInvitations() {
  const box = $("invitations");
  if (me.role !== "expert") {
    box.hidden = true;
    return;
  }
  const data = await get("/api/invitations");
  const items = data.invitations || [];
  box.hidden = !items.length;
  if (!items.length) return;
  const when = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });
  const list = el("ul", { class: "session-list" });
  for (const inv of items) {
    const where = inv.venue ? `${inv.venue.name}（${inv.venue.city}）` : "评标场地";
    const li = el("li", {}, `${where}${inv.date ? ` · 评标日期 ${inv.date}` : ""} · ${INVITATION_ZH[inv.status] || "未知"}`);
    if (inv.status === "pending") {
      li.append(el("span", { class: "muted" }, `，请在 ${when(inv.deadline)} 前答复`),
        el("div", { class: "actions" },
          el("button", { type: "button", onclick: () => answer(inv, true, where) }, "接受邀请"),
          el("button", { type: "button", class: "secondary", onclick: () => answer(inv, false, where) }, "谢绝邀请")));
    }
    list.append(li);
  }
  box.replaceChildren(el("h2", { id: "inv-h" }, "评标邀请"), list);
}

async function answer(inv, accept, where) {
  const ok = await confirmDialog(accept
    ? { title: "接受评标邀请？", lines: [`接受后请按时到${where}报到，由场地为您签到；项目名称和投标人在签到后告知。`, "接受后如需退出，须经监督同意。"], confirm: "确认接受" }
    : { title: "谢绝评标邀请？", lines: ["谢绝后将自动邀请候补专家，不能撤回。"], confirm: "确认谢绝", danger: true });
  if (!ok) return;
  try {
    await api("POST", `/api/sessions/${encodeURIComponent(inv.session_id)}/invitation`, {
      body: { accept }, headers: { "Idempotency-Key": `invitation-${crypto.randomUUID()}` } });
    announce(accept ? "已接受邀请" : "已谢绝邀请", "ok");
  } catch (err) {
    showProblem(ERROR_ZH[err.code] || "答复失败");
  }
  await listInvitations();
  await listSessions();
}

// The list's own live links (supervisors: the console of every session), one per row.
let watchers = [];

function stopWatchers() {
  for (const w of watchers) w.stop();
  watchers = [];
}

async function listSessions() {
  stopWatchers();
  const data = await get("/api/sessions");
  const list = $("session-list");
  list.replaceChildren(...data.sessions.map((s) => el("li", {},
    el("button", { type: "button", class: "link", onclick: () => openSession(s.id) }, s.title || UNNAMED),
    el("span", { class: "muted", id: `state-${s.id}` }, ` ${stateLabel(s)}`))));
  if (me.role === "supervisor" && data.sessions.length > 1) {
    // A live console, not a stale list: each row follows its session over the WebSocket.
    for (const s of data.sessions) {
      const w = new SessionClient({ sessionId: s.id, token: () => tokenStore.get(sessionStorage), get });
      w.on("session", (doc) => {
        const span = document.getElementById(`state-${s.id}`);
        if (span) span.textContent = ` ${stateLabel(doc)}${doc.paused ? `：${doc.paused.reason}` : ""}`;
      });
      w.start();
      watchers.push(w);
    }
  }
  if (!data.sessions.length) list.append(el("li", {}, "暂无您可查看的评标项目"));
  if (me.role === "operator") {
    list.append(el("li", {}, el("button", { type: "button", class: "secondary", onclick: () => {
      $("sessions").hidden = true;
      const ws = $("workspace");
      ws.hidden = false;
      showRegistration(ws, me, (id) => openSession(id));
    } }, "登记新项目")));
  }
  $("sessions").hidden = false;
  // One session, or one still running beside sealed or aborted ones: open it by itself
  // (the first time only); the list stays for the others.
  const running = data.sessions.filter((s) => s.state !== "sealed" && s.state !== "aborted");
  const only = data.sessions.length === 1 ? data.sessions[0] : running.length === 1 ? running[0] : null;
  if (only && !client && !listedOnce) await openSession(only.id);
  listedOnce = true;
}

function sessionHeader() {
  const card = el("section", { class: "card", "aria-labelledby": "s-title" },
    el("h2", { id: "s-title" }),
    el("p", { class: "meta" },
      el("span", { id: "s-state", class: "state" }), " ",
      el("span", { id: "s-method" }), " · 招标人 ", el("span", { id: "s-tenderer" })),
    el("p", { id: "s-venues", class: "meta muted" }),
    el("button", { type: "button", class: "secondary small", onclick: () => backToList() }, "返回项目列表"));
  return card;
}

function renderHeader(s) {
  $("s-title").textContent = s.title || UNNAMED;
  $("s-state").textContent = stateLabel(s);
  $("s-method").textContent = METHOD_ZH[s.method] || "";
  $("s-tenderer").textContent = s.tenderer;
  $("s-venues").textContent = `场地：${s.venues.map((v) => `${venueLabel(s, v.id)} ${v.seats} 席`).join("、")}`;
  if (me.venue) $("who").textContent = `${me.name}（${ROLE_ZH[me.role]} · ${venueLabel(s, me.venue)}）`;
}

function feedCard() {
  return el("section", { class: "card", "aria-labelledby": "feed-h" },
    el("h2", { id: "feed-h" }, "事件记录"),
    el("ol", { id: "events", class: "events", reversed: true, tabindex: "0", "aria-labelledby": "feed-h" }));
}

function addEvent(e) {
  const list = $("events");
  if (!list) return;
  const t = new Date(e.time).toLocaleTimeString("zh-CN", { hour12: false });
  list.prepend(el("li", { value: String(e.seq) }, `${t} ${describeEvent(client.session, e)}`));
  while (list.children.length > 200) list.lastChild.remove();
}

async function openSession(id) {
  stopWatchers();
  if (client) closeSession();
  const ws = $("workspace");
  ws.hidden = false;
  $("sessions").hidden = true;
  const body = el("div", { id: "ws-body" });
  ws.replaceChildren(sessionHeader(), body, feedCard());
  outbox = me.role === "expert" ? new Outbox(localStorage, id, me.subject) : null;
  client = new SessionClient({ sessionId: id, token: () => tokenStore.get(sessionStorage), get, outbox });
  const mod = WORKSPACES[me.role];
  workspace = mod.mount({ client, me, body, outbox, refreshLive, showProblem });
  client.on("status", refreshLive);
  client.on("event", (e) => addEvent(e));
  client.on("session", async (s) => {
    renderHeader(s);
    try {
      await workspace.update(s);
    } catch (err) {
      // A read behind the document failed (the link dropped): the next event re-renders.
      if (!(err instanceof ApiError)) throw err;
      if (err.code !== "network") showProblem(ERROR_ZH[err.code] || "读取失败");
    }
    // Rendered through this seq: lets a test (or a person with devtools) know the screen
    // shows the document that followed an event.
    document.body.dataset.renderedSeq = String(s.last_seq);
  });
  client.on("presence", (m) => workspace.presence && workspace.presence(m));
  client.on("problem", (p) => showProblem(ERROR_ZH[p.code] || "操作失败"));
  client.on("bye", (b) => {
    if (b.code === "unauthenticated" || b.code === "token_revoked") showProblem(`${ERROR_ZH[b.code]}，请重新登录`);
  });
  client.start();
  refreshLive();
}

function closeSession() {
  if (workspace && workspace.unmount) workspace.unmount();
  if (client) client.stop();
  client = null;
  workspace = null;
  outbox = null;
  refreshLive();
}

async function backToList() {
  closeSession();
  $("workspace").hidden = true;
  $("workspace").replaceChildren();
  await listSessions();
  $("sessions-h").focus();
}

async function signOut() {
  const waiting = outbox ? outbox.all().length : 0;
  if (waiting) {
    const ok = await confirmDialog({
      title: "退出登录？",
      lines: [`还有 ${waiting} 份评审表尚未送达服务器。退出将清除本机保存的草稿和待发送内容，无法恢复。`],
      confirm: "仍然退出并清除", danger: true,
    });
    if (!ok) return;
  }
  closeSession();
  stopWatchers();
  clearAll(localStorage);
  tokenStore.clear(sessionStorage);
  keyring.forget();
  setToken("");
  me = null;
  listedOnce = false;
  $("who").textContent = "未登录";
  $("signout").hidden = true;
  $("workspace").hidden = true;
  $("workspace").replaceChildren();
  $("sessions").hidden = true;
  $("invitations").hidden = true;
  $("login").hidden = false;
  announce("已退出登录，本机保存的令牌和草稿已清除", "ok");
  $("token").focus();
}

window.addEventListener("offline", () => [client, ...watchers].forEach((c) => c && c.offline()));
window.addEventListener("online", () => [client, ...watchers].forEach((c) => c && c.online()));

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (!t) {
    const e = $("token-err");
    e.textContent = "访问令牌：请粘贴令牌";
    e.hidden = false;
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
    return;
  }
  keyring.forget(); // a pasted token signs nothing with a key chosen before
  signIn(t);
});

// --- certificate sign-in (docs/pki.md "Certificate login over HTTP") ---------------------

/** POST without a token (the challenge and the login need none). */
async function postOpen(path, body) {
  let r;
  try {
    r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { code: "network" });
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

async function certificateSignIn() {
  const session = $("cert-session").value.trim();
  const file = $("cert-file").files[0];
  fieldProblem("cert-session", session ? "" : "评标项目编号：请填写（登录链接或场地通知中的 s-… 编号）");
  fieldProblem("cert-file", file ? "" : "证书密钥文件：请选择文件");
  if (!session) return $("cert-session").focus();
  if (!file) return $("cert-file").focus();
  let signer;
  const pem = await file.text();
  try {
    signer = await loadSigner(pem);
  } catch (err) {
    fieldProblem("cert-file", `证书密钥文件：${err instanceof KeyFileError ? KEY_ERROR_ZH[err.code] : "无法读取"}`);
    return $("cert-file").focus();
  }
  let login;
  try {
    login = await certificateLogin(signer, { session, role: $("cert-role").value }, postOpen);
  } catch (err) {
    const code = err instanceof ApiError ? err.code : "internal_error";
    const text = CERT_LOGIN_ERROR_ZH[code] || ERROR_ZH[code] || "证书登录失败";
    if (code === "not_found" || (code === "invalid_input" && err.field === "session")) {
      fieldProblem("cert-session", `评标项目编号：${text}`);
      return $("cert-session").focus();
    }
    fieldProblem("cert-file", `证书登录失败：${text}`);
    return $("cert-file").focus();
  }
  keyring.remember(pem, signer);
  $("cert-file").value = "";
  announce(`已使用 ${KEY_ALGORITHM_ZH[signer.algorithm]} 证书登录；提交的评审表和评标报告将用此证书签名`, "ok");
  await signIn(login.token);
}

$("cert-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  certificateSignIn();
});
$("signout").addEventListener("click", () => signOut());

// A token in the URL fragment (#token=…) never reaches server logs; it is kept in this
// tab only (sessionStorage) and taken out of the address bar at once.
const hash = new URLSearchParams(location.hash.slice(1));
const fromHash = hash.get("token");
// #session=s-… (a certificate sign-in link) fills the project number of the certificate form.
if (hash.get("session")) $("cert-session").value = hash.get("session");
if (fromHash || hash.get("session")) history.replaceState(null, "", location.pathname);
if (fromHash) keyring.forget();
const saved = fromHash || tokenStore.get(sessionStorage);
if (saved) signIn(saved);
else $("login").hidden = false;

