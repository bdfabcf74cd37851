// The shopper chat page: session start, history, live messages, images, typing, read, queue, and
// the leave-a-message form while no seat is online (docs/decisions/125-leave-a-message.md).
import { ChatSocket, el, insertionPoint, newClientId, renderMessage, wsUrl } from "./common.js";

const config = JSON.parse(document.getElementById("shopper-config").textContent);
const L = config.labels;
const storeKey = `xiaoer.visitor.${config.shop}`;
const $ = (id) => document.getElementById(id);
const list = $("messages");
const input = $("composer-text");
const PAGE = 50; // history: the newest PAGE messages at start, then PAGE more per step back
const state = {
  session: null, lastSeq: 0, conversation: null, bySeq: new Map(), agentRead: 0, imageUrls: new Map(),
  // history (docs/protocol.md `history`): the first page sets lastSeq; live frames wait until then
  started: false, held: [], oldestSeq: null, earlier: false, loadingOlder: false,
  // whether a seat takes shoppers now (session, welcome, `staffed` events) and the conversation's status
  staffed: true, status: null, queuePosition: 0,
};
let socket = null;

function showError(text) {
  const line = $("error-line");
  line.textContent = text;
  line.classList.toggle("hidden", !text);
  if (text) setTimeout(() => { if (line.textContent === text) showError(""); }, 6000);
}

function setSeat(seat) {
  $("seat-line").textContent = seat ? `${L.servedBy} ${seat.display_name}` : L.waitingSeat;
}

function setQueue(position) {
  const banner = $("queue-banner");
  // position 1 is the next in line: nobody ahead of them
  banner.textContent = position > 1 ? L.queue.replace("%s", position - 1) : position === 1 ? L.queueNext : "";
  state.queuePosition = position;
  banner.classList.toggle("hidden", !(position > 0) || isOffline()); // no "your turn soon" with nobody online
  if (position > 0 && !isOffline()) setSeat(null);
}

function isOffline() {
  return state.staffed === false && state.status !== "open";
}

// Nobody online and no seat serving this conversation: the form instead of the chat input.
function showOffline() {
  const offline = isOffline();
  const box = $("leave-box");
  if (offline && box.classList.contains("hidden")) {
    const typed = input.value.trim(); // what they had started to type goes into the form
    if (typed && !$("leave-body").value) { $("leave-body").value = typed; input.value = ""; }
  }
  box.classList.toggle("hidden", !offline);
  $("composer").classList.toggle("hidden", offline);
  // The header dot says whether someone can answer, not only whether the socket is up.
  $("shopper-head").dataset.staffed = offline ? "false" : "true";
  $("queue-banner").classList.toggle("hidden", offline || !(state.queuePosition > 0));
  if (offline) $("seat-line").textContent = L.offlineSeat;
  else if ($("seat-line").textContent === L.offlineSeat) setSeat(null); // 正在为您安排客服…
}

function setStaffed(staffed, status) {
  if (typeof staffed === "boolean") state.staffed = staffed;
  if (status) state.status = status;
  showOffline();
}

async function leaveMessage(event) {
  event.preventDefault();
  const error = $("leave-error");
  const body = $("leave-body").value.trim();
  const fail = (text) => { error.textContent = text; error.classList.remove("hidden"); };
  error.classList.add("hidden");
  if (!body) { fail(L.leaveEmpty); $("leave-body").focus(); return; }
  if (!state.session) { fail(L.error); return; }
  const button = $("leave-submit");
  button.disabled = true;
  try {
    const res = await fetch(config.leaveMessageUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.session.token}` },
      body: JSON.stringify({ body, contact: $("leave-contact").value.trim(), client_id: newClientId() }),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { fail(data.detail || L.error); return; }
    $("leave-body").value = "";
    $("leave-form").classList.add("hidden");
    $("leave-done").classList.remove("hidden");
    if (state.status !== "open") state.status = "queued";
    setStaffed(data.staffed);
  } catch (e) {
    fail(L.error);
  } finally {
    button.disabled = false;
  }
}

async function imageSrc(token) {
  if (state.imageUrls.has(token)) return state.imageUrls.get(token);
  // Files need the shopper's token; an <img> can't send a header, so fetch and use a blob URL.
  const res = await fetch(`/files/${encodeURIComponent(token)}`, { headers: { Authorization: `Bearer ${state.session.token}` } });
  if (!res.ok) return null;
  const url = URL.createObjectURL(await res.blob());
  state.imageUrls.set(token, url);
  return url;
}

function scrollToEnd() { list.scrollTop = list.scrollHeight; }

function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 120; }

function addMessage(m, page = false) {
  if (m.internal) return;
  if (state.bySeq.has(m.seq)) return;
  const stick = !page && (nearBottom() || m.sender_kind === "shopper");
  const pendingNode = m.client_id ? list.querySelector(`.msg[data-client="${CSS.escape(m.client_id)}"]`) : null;
  const node = renderMessage(m, { viewer: "shopper", imageSrc, labels: L, timeZone: config.timezone });
  state.bySeq.set(m.seq, node);
  if (pendingNode) pendingNode.remove();
  // keep seq order even when a page of history arrives after live messages
  list.insertBefore(node, insertionPoint(list, m.seq));
  if (m.sender_kind === "agent" && m.seat && !page) setSeat(m.seat);
  if (!page) markOwnRead();
  if (stick) scrollToEnd();
}

// The bar above the first message: a button while earlier messages exist, else "no more".
function showLoadMore() {
  const bar = $("load-more");
  if (state.loadingOlder) bar.replaceChildren(L.loading);
  else if (state.earlier) {
    const button = el("button", { type: "button", class: "link", id: "load-older", text: L.earlier });
    button.addEventListener("click", loadOlder);
    bar.replaceChildren(button);
  } else bar.replaceChildren(state.oldestSeq !== null ? L.noMore : "");
}

function askHistory(before) {
  return socket.raw({ type: "history", conversation: state.conversation, before, limit: PAGE });
}

function loadOlder() {
  if (!state.started || state.loadingOlder || !state.earlier || !socket) return;
  state.loadingOlder = askHistory(state.oldestSeq);
  showLoadMore();
}

function onHistory(frame) {
  if (!state.started) {
    // The newest page: draw it, take its upto as our last seq, then the live frames held meanwhile.
    for (const m of frame.messages) addMessage(m, true);
    state.lastSeq = Math.max(state.lastSeq, frame.upto || 0);
    state.started = true;
    state.oldestSeq = frame.messages.length ? frame.messages[0].seq : null;
    state.earlier = frame.earlier && frame.messages.length > 0;
    markOwnRead();
    scrollToEnd();
    const held = state.held;
    state.held = [];
    for (const f of held) onFrame(f);
    sendRead();
  } else if (frame.before !== null && frame.before === state.oldestSeq && state.loadingOlder) {
    // An earlier page goes above what is shown; the messages in view stay where they are.
    const height = list.scrollHeight, top = list.scrollTop;
    for (const m of frame.messages) addMessage(m, true);
    list.scrollTop = top + (list.scrollHeight - height);
    if (frame.messages.length) state.oldestSeq = frame.messages[0].seq;
    state.earlier = frame.earlier && frame.messages.length > 0;
    state.loadingOlder = false;
    markOwnRead();
  }
  showLoadMore();
  // Not enough to scroll yet (short messages, tall screen): the scroll event would never come.
  if (state.earlier && list.scrollHeight <= list.clientHeight) loadOlder();
}

function markOwnRead() {
  for (const [seq, node] of state.bySeq) {
    if (!node.classList.contains("mine")) continue;
    node.querySelector(".status").textContent = seq <= state.agentRead ? L.read : L.delivered;
  }
}

function sendRead() {
  if (!socket || document.hidden || !state.lastSeq) return;
  socket.raw({ type: "read", conversation: state.conversation, seq: state.lastSeq });
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      state.conversation = frame.conversation || state.conversation;
      if (frame.seat !== undefined) setSeat(frame.seat);
      if (frame.queue_position !== undefined) setQueue(frame.queue_position);
      setStaffed(frame.staffed, frame.status); // a reconnect re-checks whether anyone is online
      // 已读 is stored: a reloaded page shows it again
      if (frame.agent_read_seq) { state.agentRead = Math.max(state.agentRead, frame.agent_read_seq); markOwnRead(); }
      state.loadingOlder = false; // a request on the old socket is lost with it
      // A returning page syncs from its last seq; a new one starts from the newest history page.
      if (state.started) socket.raw({ type: "sync", conversation: state.conversation, after: state.lastSeq });
      else askHistory(null);
      showLoadMore();
      break;
    case "history":
      onHistory(frame);
      break;
    case "messages": {
      const stick = nearBottom();
      for (const m of frame.messages) { addMessage(m); state.lastSeq = Math.max(state.lastSeq, m.seq); }
      if (frame.upto) state.lastSeq = Math.max(state.lastSeq, frame.upto);
      if (frame.more) socket.raw({ type: "sync", conversation: state.conversation, after: state.lastSeq });
      else { if (stick) scrollToEnd(); sendRead(); }
      break;
    }
    case "message": {
      if (!state.started) { state.held.push(frame); break; } // applied after the first history page
      const m = frame.message;
      if (m.seq > state.lastSeq + 1) { // a gap: fetch it, the sync answer fills it in order
        socket.raw({ type: "sync", conversation: state.conversation, after: state.lastSeq });
      }
      addMessage(m);
      state.lastSeq = Math.max(state.lastSeq, m.seq);
      if (m.sender_kind !== "shopper") { $("typing").textContent = ""; sendRead(); }
      break;
    }
    case "ack": {
      const node = list.querySelector(`.msg[data-client="${CSS.escape(frame.client_id)}"]`);
      if (node && node.classList.contains("pending")) {
        node.classList.remove("pending");
        node.dataset.seq = frame.seq;
        node.querySelector(".status").textContent = L.delivered;
        state.bySeq.set(frame.seq, node); // stored: a later sync or echo of it is not drawn twice
        markOwnRead();
      }
      break;
    }
    case "typing":
      if (frame.who !== "shopper") {
        $("typing").textContent = L.agentTyping;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 4000);
      }
      break;
    case "read":
      if (frame.by !== "shopper") { state.agentRead = Math.max(state.agentRead, frame.seq); markOwnRead(); }
      break;
    case "queue":
      setQueue(frame.position);
      if (!(frame.position > 0) && frame.seat) setSeat(frame.seat); // routed or transferred
      setStaffed(undefined, frame.status);
      break;
    case "event":
      if (frame.event === "queue" && frame.data) setQueue(frame.data.position);
      if (frame.event === "seat" && frame.data && frame.data.seat) setSeat(frame.data.seat);
      if (frame.event === "staffed" && frame.data) setStaffed(frame.data.staffed);
      break;
    case "error": {
      showError((L.errors && L.errors[frame.code]) || L.error);
      if (!frame.client_id && !state.started) { // the first history page failed: ask again
        setTimeout(() => { if (!state.started && socket) askHistory(null); }, 2000);
      } else if (!frame.client_id && state.loadingOlder) { state.loadingOlder = false; showLoadMore(); }
      if (frame.client_id) {
        const node = list.querySelector(`.msg[data-client="${CSS.escape(frame.client_id)}"]`);
        if (node) { node.classList.add("failed"); node.querySelector(".status").textContent = L.failed; }
      }
      break;
    }
    default:
      break;
  }
}

function sendFrame(kind, body, payload) {
  const frame = { type: "send", client_id: newClientId(), conversation: state.conversation, kind, body, payload };
  const node = renderMessage({ ...frame, sender_kind: "shopper", created_at: new Date().toISOString(), seq: "" },
    { viewer: "shopper", imageSrc, labels: L, timeZone: config.timezone });
  node.classList.add("pending");
  node.querySelector(".status").textContent = L.sending;
  list.append(node);
  scrollToEnd();
  socket.sendMessage(frame);
}

function submit(event) {
  if (event) event.preventDefault();
  const body = input.value.trim();
  if (!body) return;
  if (body.length > config.maxChars) { showError(L.tooLong); return; }
  sendFrame("text", body, {});
  input.value = "";
}

async function uploadImage(file) {
  if (file.size > config.maxImageBytes) { showError(L.tooBig); return; }
  const form = new FormData();
  form.append("file", file);
  const res = await fetch(config.uploadUrl, { method: "POST", body: form, headers: { Authorization: `Bearer ${state.session.token}` } });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { showError(data.detail || L.uploadFailed); return; }
  sendFrame("image", "", { attachment: data.attachment });
}

// "订单": the shopper picks one of their orders; the server builds the card from the database.
async function toggleOrders() {
  const picker = $("order-picker");
  if (!picker.classList.contains("hidden")) { picker.classList.add("hidden"); return; }
  const auth = { Authorization: `Bearer ${state.session.token}` };
  const res = await fetch(config.ordersUrl, { headers: auth });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { showError(data.detail || L.error); return; }
  const orders = data.orders || [];
  picker.replaceChildren(...(orders.length ? orders : [null]).map((o) => {
    if (!o) return Object.assign(document.createElement("div"), { className: "muted small", textContent: L.noOrders });
    const row = document.createElement("button");
    row.type = "button";
    row.className = "order-row";
    // what was bought, so the shopper recognises the order (not just its number)
    const items = (o.items || []).map((i) => `${i.title || ""} ×${i.quantity ?? ""}`).join("、");
    row.append(Object.assign(document.createElement("div"), {
      className: "order-row-head", textContent: `${o.order_no} · ${o.status_label || o.status} · ¥${o.total_amount}` }));
    if (items) row.append(Object.assign(document.createElement("div"), { className: "order-row-items muted small", textContent: items }));
    row.addEventListener("click", async () => {
      picker.classList.add("hidden");
      const sent = await fetch(`${config.ordersUrl}/${encodeURIComponent(o.order_no)}/card`, {
        method: "POST", headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ client_id: newClientId() }),
      });
      if (!sent.ok) showError((await sent.json().catch(() => ({}))).detail || L.error);
    });
    return row;
  }));
  picker.classList.remove("hidden");
}

async function start() {
  let stored = null;
  try { stored = localStorage.getItem(storeKey); } catch (e) { /* private mode */ }
  const res = await fetch(config.sessionUrl, {
    method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({ visitor: stored, buyer: config.buyer || null }),
  });
  const session = await res.json().catch(() => ({}));
  if (!res.ok) { showError(session.detail || L.error); $("seat-line").textContent = session.detail || L.error; return; }
  state.session = session;
  state.conversation = session.conversation;
  if (session.visitor) { try { localStorage.setItem(storeKey, session.visitor); } catch (e) { /* ignore */ } }
  setSeat(session.seat);
  setQueue(session.queue_position);
  setStaffed(session.staffed, session.status);
  socket = new ChatSocket(() => wsUrl(`/ws/chat?token=${encodeURIComponent(state.session.token)}`), {
    onFrame,
    onState: (s) => {
      const conn = $("conn-state");
      conn.dataset.state = s;
      conn.textContent = s === "open" ? "" : s === "connecting" ? L.connecting : L.reconnecting;
    },
  });
  socket.connect();
}

$("composer").addEventListener("submit", submit);
$("leave-form").addEventListener("submit", leaveMessage);
$("leave-again").addEventListener("click", () => {
  $("leave-done").classList.add("hidden");
  $("leave-form").classList.remove("hidden");
  $("leave-body").focus();
});
list.addEventListener("scroll", () => { if (list.scrollTop < 60) loadOlder(); });
if ($("orders-button")) $("orders-button").addEventListener("click", () => toggleOrders().catch(() => showError(L.error)));
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
});
input.addEventListener("input", () => {
  const now = Date.now();
  if (socket && now - (state.lastTyping || 0) > 3000) {
    state.lastTyping = now;
    socket.raw({ type: "typing", conversation: state.conversation });
  }
});
$("image-input").addEventListener("change", (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (file) uploadImage(file);
});
document.addEventListener("visibilitychange", sendRead);
window.xiaoerShopper = state; // for debugging and the browser test
start();
