// The agent workbench: conversation list (live), the open chat, side panels, notifications.
import { ChatSocket, el, fmtTime, fmtWait, insertionPoint, newClientId, renderMessage, wsUrl } from "./common.js";

const config = JSON.parse(document.getElementById("desk-config").textContent);
const L = config.labels;
const EN = (document.documentElement.lang || "").startsWith("en");
const TZ = config.shop.timezone;
const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const mySeatIds = new Set(config.mySeats.map((s) => s.id)); // updated live by `seats` frames

const state = {
  tab: "mine",
  convs: new Map(),
  current: null, // {id, summary, firstSeq, lastSeq, more, loading, nodes: Map seq->node}
  unseen: 0,
  baseTitle: document.title,
};
let socket = null;

// --- API --------------------------------------------------------------------------------------
async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(`${config.api}${path}`, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg || d).join(" ") : data.detail;
    throw new Error(detail || `${res.status}`);
  }
  return data;
}

function flashError(text) {
  const node = $("composer-error");
  node.textContent = text;
  setTimeout(() => { if (node.textContent === text) node.textContent = ""; }, 6000);
}

// Live events that concern the open conversation reload the side-panel section they belong to.
const PANEL_FOR_EVENT = [["suggestion", "assistant-panel"], ["handoff", "assistant-panel"],
  ["task", "orders-tasks-panel"], ["order", "orders-panel"], ["attributes", "crm-panel-type-attributes"]];

function refreshPanelFor(eventName) {
  const match = PANEL_FOR_EVENT.find(([prefix]) => String(eventName || "").startsWith(prefix));
  const body = match && document.querySelector(`[data-panel="${match[1]}"] .panel-body`);
  if (body && window.htmx) htmx.ajax("GET", body.getAttribute("hx-get"), { target: body, swap: "innerHTML" });
}

// Must-read notices (a product launch, a must-read answer): a card above the chat until the
// agent presses 我已阅读; the acknowledgement is recorded (the supervisor sees who has not read).
function showNotice(data) {
  if (!data || !data.id || document.querySelector(`.notice-card[data-notice="${Number(data.id)}"]`)) return;
  const ack = el("button", { type: "button", class: "primary", text: L.acknowledge });
  const card = el("article", { class: "notice-card", role: "alert", "data-notice": Number(data.id) },
    el("header", {}, el("span", { class: "notice-kind", text: L.mustRead }),
      el("strong", { text: data.title || data.name || "" })),
    data.body ? el("p", { class: "notice-body", text: data.body }) : null,
    el("div", { class: "notice-actions" }, ack));
  ack.addEventListener("click", async () => {
    ack.disabled = true;
    try {
      const res = await fetch(`${config.noticesUrl}/${Number(data.id)}/ack`, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf } });
      if (!res.ok) throw new Error(`${res.status}`);
      card.remove();
    } catch (e) { ack.disabled = false; flashError(L.error); }
  });
  $("notices").append(card);
}

async function loadNotices() {
  if (!config.noticesUrl) return;
  const res = await fetch(`${config.noticesUrl}/pending`, { credentials: "same-origin" });
  if (res.ok) for (const notice of (await res.json()).reverse()) showNotice(notice);
}

// Robot suggestions and other panels offer text to insert: put it in the input for editing.
document.addEventListener("click", (ev) => {
  const button = ev.target.closest && ev.target.closest("[data-insert-text]");
  if (!button) return;
  ev.preventDefault();
  const input = $("composer-text");
  input.value = button.getAttribute("data-insert-text");
  input.focus();
});

// --- conversation list -------------------------------------------------------------------------
function upsert(summary) {
  const old = state.convs.get(summary.id) || {};
  state.convs.set(summary.id, { ...old, ...summary });
  if (state.current && state.current.id === summary.id) {
    state.current.summary = state.convs.get(summary.id);
    renderChatHead();
    // another seat now: suggestions are filled with the seat that will send them
    if (old.seat && summary.seat && old.seat.id !== summary.seat.id) refreshPanelFor("suggestion");
  }
}

function inTab(c, tab) {
  if (tab === "waiting") return c.status === "queued";
  if (tab === "mine") return c.status === "open" && c.seat && mySeatIds.has(c.seat.id);
  return true;
}

function sortKey(c) {
  // the shopper waiting longest for an answer on top; then the most recent activity
  if (c.status === "queued") return [0, Date.parse(c.queued_at || c.waiting_since || c.last_message_at || 0) || 0];
  if (c.waiting_since && c.status !== "resolved") return [1, Date.parse(c.waiting_since)];
  return [2, -(Date.parse(c.last_message_at || 0) || 0)];
}

function renderList() {
  const ul = $("conv-list");
  if (state.search) {
    // search results: newest first, each row saying what matched instead of the last message
    const found = state.search.results.map((r) => ({ ...(state.convs.get(r.id) || r), last_message_preview: r.match }));
    ul.replaceChildren(el("li", { class: "search-head muted small", text: `${L.searchResults} · ${found.length}` }),
      ...found.map(renderRow));
    if (!found.length) ul.append(el("li", { class: "muted pad", text: L.noResults }));
    tick();
    return;
  }
  const rows = [...state.convs.values()].filter((c) => inTab(c, state.tab));
  rows.sort((a, b) => { const x = sortKey(a), y = sortKey(b); return x[0] - y[0] || x[1] - y[1] || b.id - a.id; });
  ul.replaceChildren(...rows.map(renderRow));
  if (!rows.length) ul.append(el("li", { class: "muted pad", text: L.emptyList }));
  const waiting = [...state.convs.values()].filter((c) => c.status === "queued").length;
  const mineUnread = [...state.convs.values()].filter((c) => inTab(c, "mine")).reduce((n, c) => n + (c.unread || 0), 0);
  $("count-waiting").textContent = waiting || "";
  $("count-mine").textContent = mineUnread || "";
  tick();
}

function renderRow(c) {
  const name = (c.customer && c.customer.name) || `#${c.id}`;
  const since = c.status === "queued" ? (c.queued_at || c.waiting_since) : (c.status === "open" ? c.waiting_since : null);
  const statusTag = c.status === "queued" ? el("span", { class: "tag queued", text: L.queued })
    : c.status === "resolved" ? el("span", { class: "tag resolved", text: L.resolved }) : null;
  const seatTag = c.seat && !mySeatIds.has(c.seat.id) ? el("span", { class: "tag", text: c.seat.display_name }) : null;
  const li = el("li", { class: `conv${state.current && state.current.id === c.id ? " active" : ""}`, "data-id": c.id },
    el("div", { class: "avatar", text: name.slice(0, 1) }),
    el("div", { class: "conv-name" }, name, statusTag, seatTag),
    el("div", { class: "conv-meta", text: fmtTime(c.last_message_at, TZ) }),
    el("div", { class: "conv-preview", text: c.last_message_preview || "" }),
    el("div", { class: "conv-side" },
      since ? el("span", { class: "wait", "data-since": since }) : null,
      c.unread && c.status !== "resolved" ? el("span", { class: "count", text: c.unread > 99 ? "99+" : c.unread }) : null));
  li.addEventListener("click", () => openConversation(c.id));
  return li;
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-since]")) {
    const secs = (now - Date.parse(node.dataset.since)) / 1000;
    node.textContent = `${L.waited} ${fmtWait(secs, EN)}`;
    node.classList.toggle("long", secs > 120);
  }
}

async function loadLists() {
  const [all, waiting] = await Promise.all([api("/conversations?tab=all"), api("/conversations?tab=waiting")]);
  for (const c of [...all, ...waiting]) upsert(c);
  renderList();
}

// --- the open chat -----------------------------------------------------------------------------
function renderChatHead() {
  const cur = state.current;
  if (!cur) return;
  const c = cur.summary || {};
  $("chat-title").textContent = (c.customer && c.customer.name) || `#${cur.id}`;
  const statusText = { queued: L.queued, open: L.open, resolved: L.resolved }[c.status] || "";
  $("chat-sub").textContent = [statusText, c.seat ? `${L.seat}: ${c.seat.display_name}` : null].filter(Boolean).join(" · ");
  $("btn-claim").classList.toggle("hidden", c.status !== "queued" || !config.mySeats.length);
  $("btn-resolve").classList.toggle("hidden", c.status === "resolved");
  $("btn-transfer").classList.toggle("hidden", c.status === "resolved");
  $("btn-reopen").classList.toggle("hidden", c.status !== "resolved");
  const readOnly = !canSend(c);
  $("composer").classList.toggle("read-only", readOnly);
  $("composer-text").placeholder = readOnly ? L.notYourSeat : config.composerPlaceholder;
}

// The server refuses a send into a conversation none of our seats serves (unless we supervise):
// say so before sending, in the page's language.
function canSend(c) {
  return Boolean(config.me.supervisor || (c && c.seat && mySeatIds.has(c.seat.id)));
}

// --- seats we operate: toggles, the "mine" tab and send rights follow `seats` frames ----------
function renderSeatToggles() {
  const box = $("seat-toggles");
  if (!config.mySeats.length) { box.replaceChildren(el("span", { class: "muted", text: L.noSeats })); return; }
  box.replaceChildren(...config.mySeats.map((s) => el("button", {
    type: "button", class: `seat-toggle${s.online ? " online" : ""}`, "data-seat": s.id, title: L.toggleSeat,
  }, el("span", { class: "dot" }), s.display_name)));
}

function applySeats(seats, supervisor) {
  const before = new Set(mySeatIds);
  config.mySeats = seats;
  config.me.supervisor = Boolean(supervisor);
  mySeatIds.clear();
  for (const s of seats) mySeatIds.add(s.id);
  const gained = seats.filter((s) => !before.has(s.id)).map((s) => s.display_name);
  const lost = [...before].filter((id) => !mySeatIds.has(id)).length;
  renderSeatToggles();
  renderList();
  renderChatHead();
  if (gained.length) flashError(L.seatGained.replace("%s", gained.join("、")));
  else if (lost) flashError(L.seatLost);
  loadLists().catch(() => {});
}

function imageSrc(token) { return `/files/${encodeURIComponent(token)}`; }

function nearBottom(box, margin) { return box.scrollHeight - box.scrollTop - box.clientHeight < margin; }

// The row follows what was said last: a visible reply ends the shopper's wait (已等), a shopper's
// message starts it; internal notes change neither (the server keeps the same rule).
function noteInRow(m) {
  const c = state.convs.get(m.conversation);
  if (!c || m.internal) return;
  c.last_message_preview = m.kind === "image" ? L.imagePreview : (m.body || (m.payload && m.payload.title) || "");
  c.last_message_at = m.created_at;
  if (m.sender_kind === "shopper") c.waiting_since = c.waiting_since || m.created_at;
  else if (m.sender_kind === "agent" || m.sender_kind === "robot") c.waiting_since = null;
}

function addMessages(messages) {
  const box = $("messages");
  const cur = state.current;
  const stick = nearBottom(box, 150);
  for (const m of messages) {
    if (m.conversation !== cur.id || cur.nodes.has(m.seq)) continue;
    const pendingNode = m.client_id ? box.querySelector(`.msg.pending[data-client="${CSS.escape(m.client_id)}"]`) : null;
    if (pendingNode) pendingNode.remove();
    const node = renderMessage(m, { viewer: "agent", imageSrc, timeZone: TZ, labels: L });
    if (m.internal) node.querySelector(".status").remove(); // a note is never 已送达/已读
    cur.nodes.set(m.seq, node);
    box.insertBefore(node, insertionPoint(box, m.seq));
    cur.firstSeq = cur.firstSeq ? Math.min(cur.firstSeq, m.seq) : m.seq;
    cur.lastSeq = Math.max(cur.lastSeq, m.seq);
  }
  if (stick) box.scrollTop = box.scrollHeight;
}

// Images load after the list is drawn and push the newest message down: while the agent is at
// the bottom (just opened, or reading the latest), keep it there.
function keepPinned() {
  const box = $("messages");
  if (state.current && state.current.pinned) box.scrollTop = box.scrollHeight;
}

async function loadOlder() {
  const cur = state.current;
  if (!cur || cur.loading || !cur.more) return;
  cur.loading = true;
  const box = $("messages");
  const before = box.scrollHeight;
  $("load-more").textContent = L.loading;
  try {
    const page = await api(`/conversations/${cur.id}/messages?before=${cur.firstSeq || ""}&limit=50`);
    if (state.current !== cur) return;
    cur.more = page.more;
    const top = box.scrollTop;
    addMessages(page.messages);
    box.scrollTop = top + (box.scrollHeight - before);
  } finally {
    cur.loading = false;
    $("load-more").textContent = cur.more ? "" : L.noMore;
  }
}

async function openConversation(id) {
  $("chat-empty").classList.add("hidden");
  $("chat").classList.remove("hidden");
  const box = $("messages");
  box.replaceChildren(el("div", { class: "load-more muted small", id: "load-more" }));
  state.current = { id, summary: state.convs.get(id), firstSeq: 0, lastSeq: 0, more: true, loading: false, nodes: new Map(),
    pinned: true };
  history.replaceState(null, "", `/desk/c/${id}`);
  renderList();
  renderChatHead();
  if (!state.current.summary) {
    try { upsert(await api(`/conversations/${id}`)); renderChatHead(); } catch (e) { flashError(e.message); }
  }
  const cur = state.current;
  cur.loading = true;
  try {
    const page = await api(`/conversations/${id}/messages?limit=50`);
    if (state.current !== cur) return;
    cur.more = page.more;
    addMessages(page.messages);
    box.scrollTop = box.scrollHeight;
    $("load-more").textContent = cur.more ? "" : L.noMore;
  } catch (e) { flashError(e.message); } finally { cur.loading = false; }
  markRead();
  if (window.htmx) {
    htmx.ajax("GET", config.panelsUrl.replace("{id}", id), { target: "#side-panel", swap: "innerHTML" });
  }
  $("composer-text").focus();
}

function markRead() {
  const cur = state.current;
  if (!cur || !cur.lastSeq || document.hidden) return;
  const c = state.convs.get(cur.id);
  // Only the seat serving the conversation tells the shopper 已读 (the server refuses the rest).
  if (!c || !c.seat || !mySeatIds.has(c.seat.id)) return;
  if (c.unread) { c.unread = 0; renderList(); }
  if (socket) socket.raw({ type: "read", conversation: cur.id, seq: cur.lastSeq });
}

function sendFrame(kind, body, payload) {
  const cur = state.current;
  if (!cur) return;
  const frame = { type: "send", client_id: newClientId(), conversation: cur.id, kind, body, payload };
  const seat = cur.summary && cur.summary.seat;
  const draft = { ...frame, sender_kind: "agent", internal: kind === "note", seat, created_at: new Date().toISOString(), seq: "" };
  const node = renderMessage(draft, { viewer: "agent", imageSrc, timeZone: TZ, labels: L });
  node.classList.add("pending");
  node.draft = draft;
  node.querySelector(".status").textContent = L.sending;
  cur.pinned = true;
  $("messages").append(node);
  $("messages").scrollTop = $("messages").scrollHeight;
  socket.sendMessage(frame);
}

function submit(event) {
  if (event) event.preventDefault();
  const text = $("composer-text");
  const body = text.value.trim();
  if (!body || !state.current) return;
  if (body.length > config.maxChars) { flashError(L.tooLong); return; }
  if (!canSend(state.current.summary)) { flashError(L.notYourSeat); return; }
  const note = $("note-mode").checked;
  sendFrame(note ? "note" : "text", body, {});
  text.value = "";
  if (note) setNoteMode(false); // a note is one message; the next one is a reply again
}

function setNoteMode(on) {
  $("note-mode").checked = on;
  $("composer").classList.toggle("note", on);
}

async function uploadImage(file) {
  const form = new FormData();
  form.append("file", file);
  const res = await fetch(config.uploadUrl, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { flashError(data.detail || L.uploadFailed); return; }
  sendFrame("image", "", { attachment: data.attachment });
}

async function action(path, body) {
  const cur = state.current;
  if (!cur) return;
  try { upsert(await api(`/conversations/${cur.id}/${path}`, { method: "POST", body: body || {} })); renderList(); }
  catch (e) { flashError(e.message); throw e; }
  await catchUp(cur);
  if (path === "reopen" && state.current === cur) { // back to work: at the newest message
    cur.pinned = true;
    $("messages").scrollTop = $("messages").scrollHeight;
  }
}

// Fetch what was stored after the last message shown (e.g. the event line of a transfer, which
// this socket no longer hears live once the conversation has left our seats).
async function catchUp(cur) {
  if (state.current !== cur) return;
  try {
    for (let more = true; more && state.current === cur;) {
      const page = await api(`/conversations/${cur.id}/messages?after=${cur.lastSeq}&limit=200`);
      addMessages(page.messages);
      more = page.more && page.messages.length > 0;
    }
  } catch (e) { /* the socket's sync will fill it in */ }
}

// --- notifications -----------------------------------------------------------------------------
let audio = null;
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch (e) { /* no audio before a user gesture: the title still flashes */ }
}

function notify(m) {
  const focused = !document.hidden && state.current && state.current.id === m.conversation;
  if (focused) return;
  state.unseen += 1;
  document.title = `(${state.unseen}) ${L.newMessage} · ${state.baseTitle}`;
  beep();
}

// --- socket ------------------------------------------------------------------------------------
function onFrame(frame) {
  switch (frame.type) {
    case "welcome": {
      // (Re)connected: the seats may have changed while we were away.
      const ids = (frame.seats || []).map((s) => s.id);
      if (ids.length !== mySeatIds.size || ids.some((id) => !mySeatIds.has(id)) || frame.supervisor !== config.me.supervisor) {
        const known = new Map(config.mySeats.map((s) => [s.id, s]));
        applySeats((frame.seats || []).map((s) => ({ online: false, ...known.get(s.id), ...s })), frame.supervisor);
      }
      if (state.current && state.current.lastSeq) {
        socket.raw({ type: "sync", conversation: state.current.id, after: state.current.lastSeq });
      }
      loadLists().catch(() => {});
      break;
    }
    case "seats": // a seat was handed to us or away from us, or our role changed
      applySeats(frame.seats, frame.supervisor);
      break;
    case "message": {
      const m = frame.message;
      const c = state.convs.get(m.conversation);
      if (state.current && m.conversation === state.current.id) {
        if (state.current.lastSeq && m.seq > state.current.lastSeq + 1) {
          socket.raw({ type: "sync", conversation: m.conversation, after: state.current.lastSeq });
        }
        addMessages([m]);
        if (m.sender_kind === "shopper") { $("typing").textContent = ""; markRead(); }
      }
      if (c) noteInRow(m);
      if (m.sender_kind === "shopper") notify(m);
      renderList();
      break;
    }
    case "messages":
      if (state.current && frame.conversation === state.current.id) {
        addMessages(frame.messages);
        if (frame.more) socket.raw({ type: "sync", conversation: frame.conversation, after: frame.upto });
      }
      break;
    case "ack": {
      const node = document.querySelector(`.msg.pending[data-client="${CSS.escape(frame.client_id)}"]`);
      if (node) {
        node.classList.remove("pending");
        node.dataset.seq = frame.seq;
        const draft = node.draft || {};
        node.querySelector(".status").textContent = draft.internal ? "" : L.delivered;
        noteInRow({ ...draft, conversation: frame.conversation, created_at: frame.created_at || new Date().toISOString() });
        renderList();
        const cur = state.current;
        if (cur && cur.id === frame.conversation && !cur.nodes.has(frame.seq)) cur.nodes.set(frame.seq, node);
      }
      break;
    }
    case "conversation":
      upsert(frame.conversation);
      renderList();
      break;
    case "typing":
      if (state.current && frame.conversation === state.current.id && frame.who === "shopper") {
        $("typing").textContent = L.shopperTyping;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 4000);
      }
      break;
    case "read":
      if (state.current && frame.conversation === state.current.id && frame.by === "shopper") {
        for (const [seq, node] of state.current.nodes) {
          if (seq <= frame.seq && node.classList.contains("mine") && !node.classList.contains("internal")) {
            node.querySelector(".status").textContent = L.read;
          }
        }
      }
      break;
    case "event":
      if (frame.event === "seat" || frame.event === "queue") loadLists().catch(() => {});
      if (frame.event === "knowledge") showNotice(frame.data || {});
      if (state.current && frame.conversation === state.current.id) refreshPanelFor(frame.event);
      break;
    case "error": {
      flashError((L.errors && L.errors[frame.code]) || L.error);
      if (frame.client_id) {
        const node = document.querySelector(`.msg[data-client="${CSS.escape(frame.client_id)}"]`);
        if (node) { node.classList.add("failed"); node.querySelector(".status").textContent = L.failed; }
      }
      break;
    }
    default:
      break;
  }
}

// --- wiring ------------------------------------------------------------------------------------
for (const button of document.querySelectorAll(".tabs button")) {
  button.addEventListener("click", () => {
    state.tab = button.dataset.tab;
    for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b === button);
    renderList();
  });
}
$("seat-toggles").addEventListener("click", async (ev) => {
  const button = ev.target.closest && ev.target.closest(".seat-toggle");
  if (!button) return;
  const online = !button.classList.contains("online");
  try {
    await api(`/seats/${button.dataset.seat}/online`, { method: "POST", body: { online } });
    button.classList.toggle("online", online);
    const seat = config.mySeats.find((s) => s.id === Number(button.dataset.seat));
    if (seat) seat.online = online;
  } catch (e) { alert(e.message); }
});
// --- quick phrases: "/" plus a shortcut or pinyin initials ("/fh" → 发货…) ------------------------
const phrases = { items: [], index: 0, asked: 0 };
const phraseMenu = $("phrase-menu");

function hidePhrases() { phrases.items = []; phraseMenu.classList.add("hidden"); }

function renderPhrases() {
  // One heading per group (in the order the best hits come), when any phrase has a group.
  const grouped = phrases.items.some((p) => p.group);
  const headed = [];
  let last = null;
  phrases.items.forEach((p, i) => {
    if (grouped && (p.group || "") !== last) {
      last = p.group || "";
      headed.push(el("li", { role: "presentation", class: "phrase-group", text: last || L.ungrouped }));
    }
    const item = el("li", { role: "option", class: i === phrases.index ? "active" : "" },
      el("span", { class: "shortcut", text: `/${p.shortcut}` }), el("span", { text: p.text }));
    item.addEventListener("mousedown", (e) => { e.preventDefault(); insertPhrase(i); });
    headed.push(item);
  });
  phraseMenu.replaceChildren(...headed);
  phraseMenu.classList.toggle("hidden", phrases.items.length === 0);
}

/** Phrases of one group together, groups in the order of their best hit (the first stays first). */
function groupPhrases(items) {
  const order = [];
  const byGroup = new Map();
  for (const p of items) {
    const key = p.group || "";
    if (!byGroup.has(key)) { byGroup.set(key, []); order.push(key); }
    byGroup.get(key).push(p);
  }
  return order.flatMap((key) => byGroup.get(key));
}

const PHRASE_QUERY = /^\/(\S{0,20})$/;

async function lookUpPhrases() {
  const match = PHRASE_QUERY.exec($("composer-text").value);
  if (!match) { hidePhrases(); return; }
  const asked = ++phrases.asked;
  const seat = state.current && state.current.summary && state.current.summary.seat;
  const query = `q=${encodeURIComponent(match[1])}${seat ? `&seat_id=${seat.id}` : ""}`;
  const res = await fetch(`${config.phrasesUrl}?${query}`, { credentials: "same-origin" });
  const items = res.ok ? await res.json() : [];
  if (asked !== phrases.asked) return; // a newer keystroke asked again
  phrases.items = groupPhrases(items);
  phrases.index = 0;
  renderPhrases();
}

function insertPhrase(i) {
  const phrase = phrases.items[i];
  hidePhrases();
  if (!phrase) return;
  const input = $("composer-text");
  input.value = phrase.text; // for editing before sending, never sent as is
  input.focus();
}

if (config.phrasesUrl) {
  const input = $("composer-text");
  input.addEventListener("input", () => { lookUpPhrases().catch(hidePhrases); });
  input.addEventListener("blur", () => setTimeout(() => {
    if (document.activeElement !== input) hidePhrases(); // clicked elsewhere, not into the menu
  }, 150));
  // Registered before the Enter-to-send handler: while the input holds a "/…" lookup, Enter picks
  // a phrase (waiting for the answer if it is still on its way) and never sends "/fh" to a shopper.
  input.addEventListener("keydown", (e) => {
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    const picking = (e.key === "Enter" || e.key === "Tab") && !e.isComposing && !e.shiftKey;
    if (picking && PHRASE_QUERY.test(input.value)) {
      if (phrases.items.length) insertPhrase(phrases.index);
      else lookUpPhrases().then(() => insertPhrase(0)).catch(hidePhrases);
    } else if (phrases.items.length && e.key in moves) {
      phrases.index = (phrases.index + moves[e.key] + phrases.items.length) % phrases.items.length;
      renderPhrases();
    } else if (phrases.items.length && e.key === "Escape") {
      hidePhrases();
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation();
  });
}

$("composer").addEventListener("submit", submit);
$("composer-text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
});
$("composer-text").addEventListener("input", () => {
  const now = Date.now();
  if (socket && state.current && !$("note-mode").checked && now - (state.lastTyping || 0) > 3000) {
    state.lastTyping = now;
    socket.raw({ type: "typing", conversation: state.current.id });
  }
});
$("note-mode").addEventListener("change", (e) => setNoteMode(e.target.checked));
$("image-input").addEventListener("change", (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (file) uploadImage(file);
});
// Only the agent's own scrolling unpins (images growing above move scrollTop too).
let userScrolledAt = 0;
for (const kind of ["wheel", "touchmove", "keydown", "mousedown"]) {
  $("messages").addEventListener(kind, () => { userScrolledAt = Date.now(); }, { passive: true });
}
$("messages").addEventListener("scroll", () => {
  const box = $("messages");
  if (state.current && Date.now() - userScrolledAt < 1500) state.current.pinned = nearBottom(box, 40);
  if (box.scrollTop < 60) loadOlder();
});
$("messages").addEventListener("load", keepPinned, true); // (load does not bubble: capture it)
$("btn-resolve").addEventListener("click", () => action("resolve").catch(() => {}));
$("btn-reopen").addEventListener("click", () => action("reopen").catch(() => {}));
$("btn-claim").addEventListener("click", () => {
  if (config.mySeats.length) action("claim", { seat: config.mySeats[0].id }).catch(() => {});
});
$("btn-transfer").addEventListener("click", async () => {
  const select = $("transfer-seat");
  const cur = state.current && state.current.summary;
  let seats = config.seats;
  try { seats = await api("/seats"); } catch (e) { /* fall back to the page's list */ }
  select.replaceChildren(...seats.filter((s) => s.operator && (!cur || !cur.seat || s.id !== cur.seat.id)).map((s) =>
    el("option", { value: s.id, text: `${s.display_name}${s.online ? "" : ` (${L.offline})`}${s.open !== undefined ? ` ${s.open}/${s.capacity}` : ""}` })));
  $("transfer-note").value = "";
  $("transfer-error").textContent = "";
  $("transfer-dialog").showModal();
});
$("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());
$("transfer-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await action("transfer", { seat: Number($("transfer-seat").value), note: $("transfer-note").value });
    $("transfer-dialog").close();
  } catch (err) { $("transfer-error").textContent = err.message; }
});
// The agent sends a product of the shop as a card (built on the server from the database).
async function listProducts() {
  const q = $("product-search").value.trim();
  const res = await fetch(`${config.productsUrl}?limit=30&q=${encodeURIComponent(q)}`, { credentials: "same-origin" });
  const products = res.ok ? await res.json() : [];
  $("product-list").replaceChildren(...products.map((p) => {
    const pick = el("button", { type: "button", text: `${p.title} · ${p.code}` });
    pick.addEventListener("click", async () => {
      const cur = state.current;
      $("product-dialog").close();
      if (!cur) return;
      try { await api(`/conversations/${cur.id}/product-card`, { method: "POST", body: { product: p.id } }); }
      catch (e) { flashError(e.message); }
    });
    return el("li", {}, pick);
  }));
  if (!products.length) $("product-list").append(el("li", { class: "muted small", text: L.noResults }));
}
if (config.productsUrl) {
  $("btn-product").addEventListener("click", () => {
    $("product-search").value = "";
    $("product-dialog").showModal();
    listProducts().catch(() => {});
  });
  $("product-search").addEventListener("input", () => { listProducts().catch(() => {}); });
  $("product-search").addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  $("product-cancel").addEventListener("click", () => $("product-dialog").close());
}

// Search across conversations and messages (buyer, phone tail, order number, text).
let searchTimer = null;
async function runSearch() {
  const q = $("conv-search").value.trim();
  if (!q) { state.search = null; renderList(); return; }
  const asked = q;
  try {
    const results = await api(`/search?q=${encodeURIComponent(q)}`);
    if ($("conv-search").value.trim() !== asked) return; // typed on meanwhile
    for (const r of results) if (!state.convs.has(r.id)) upsert({ ...r, match: undefined });
    state.search = { q, results };
    renderList();
  } catch (e) { flashError(e.message); }
}
$("conv-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
$("conv-search").addEventListener("keydown", (e) => {
  if (e.key === "Escape") { $("conv-search").value = ""; runSearch(); }
  if (e.key === "Enter") { e.preventDefault(); clearTimeout(searchTimer); runSearch(); }
});

// Keyboard: Alt+↓ / Alt+↑ open the next / previous conversation of the list as shown (the input
// keeps the focus, so the agent types and presses Enter without touching the mouse).
document.addEventListener("keydown", (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey || !(e.key === "ArrowDown" || e.key === "ArrowUp")) return;
  const rows = [...document.querySelectorAll("#conv-list .conv")];
  if (!rows.length) return;
  e.preventDefault();
  const at = rows.findIndex((row) => state.current && Number(row.dataset.id) === state.current.id);
  const next = at < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, at + (e.key === "ArrowDown" ? 1 : -1)));
  if (next !== at) openConversation(Number(rows[next].dataset.id));
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) { state.unseen = 0; document.title = state.baseTitle; markRead(); }
});
window.addEventListener("focus", () => { state.unseen = 0; document.title = state.baseTitle; });
setInterval(tick, 1000);

socket = new ChatSocket(wsUrl("/ws/desk"), {
  onFrame,
  onState: (s) => {
    const conn = $("conn-state");
    conn.dataset.state = s;
    conn.textContent = s === "open" ? L.online : s === "connecting" ? L.connecting : L.reconnecting;
  },
});
socket.connect();
loadNotices().catch(() => {});
loadLists().then(() => { if (config.conversation) openConversation(config.conversation); }).catch((e) => flashError(e.message));
window.xiaoerDesk = state;
