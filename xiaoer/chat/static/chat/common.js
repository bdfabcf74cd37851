// Shared pieces of the shopper page and the workbench: the reconnecting socket, DOM helpers,
// message rendering. Every string a person typed goes through textContent, never innerHTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function newClientId() {
  if (window.crypto && crypto.randomUUID) {
    try { return crypto.randomUUID(); } catch (e) { /* not a secure context */ }
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function fmtTime(iso, timeZone) {
  if (!iso) return "";
  const d = new Date(iso);
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (timeZone) opts.timeZone = timeZone;
  const sameDay = new Date().toDateString() === d.toDateString();
  if (!sameDay) { opts.month = "2-digit"; opts.day = "2-digit"; }
  try { return d.toLocaleString(document.documentElement.lang || "zh-CN", opts); } catch (e) { return d.toLocaleString(); }
}

export function fmtWait(seconds, en) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (en) return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
  return h ? `${h}小时${m}分` : m ? `${m}分${s}秒` : `${s}秒`;
}

/**
 * A chat socket that reconnects with exponential backoff and re-sends every unacknowledged
 * message with the same client_id (the server stores a retried client_id only once).
 */
export class ChatSocket {
  constructor(url, { onFrame, onState, onOpen }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState || (() => {});
    this.onOpen = onOpen || (() => {});
    this.pending = new Map(); // client_id -> send frame, in send order
    this.attempt = 0;
    this.ws = null;
    this.closedByUs = false;
    this.timer = null;
  }

  connect() {
    this.onState("connecting");
    const ws = new WebSocket(typeof this.url === "function" ? this.url() : this.url);
    this.ws = ws;
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        this.attempt = 0;
        this.onState("open");
        this.onFrame(frame);
        this.onOpen(frame);
        for (const pending of this.pending.values()) this.raw(pending);
        return;
      }
      if (frame.type === "ping") { this.raw({ type: "pong" }); return; }
      if (frame.type === "ack") this.pending.delete(frame.client_id);
      if (frame.type === "error" && frame.client_id && frame.code !== "rate_limited" && frame.code !== "busy") {
        this.pending.delete(frame.client_id); // a refused message is not retried as is
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.onState("closed", event.code);
      if (this.closedByUs || [4003, 4401, 4403, 4404].includes(event.code)) return;  // final: no retry
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt = Math.min(this.attempt + 1, 8);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  sendMessage(frame) {
    this.pending.set(frame.client_id, frame);
    this.raw(frame);
  }

  get isOpen() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  close() { this.closedByUs = true; if (this.ws) this.ws.close(); }
}

/** An order card (docs/orders-import.md "Order cards"): number, status, items, amounts. Text only. */
function renderOrderCard(p, labels) {
  const card = el("div", { class: "order-card" });
  card.append(el("strong", { text: `${labels.order || "订单"} ${p.order_no || ""}` }),
    el("span", { class: "badge", text: p.status_label || p.status || "" }));
  const items = el("ul", { class: "small" });
  for (const item of (p.items || []).slice(0, 10)) {
    items.append(el("li", { text: `${item.title || ""} × ${item.quantity ?? ""}` }));
  }
  card.append(items, el("div", { class: "muted small",
    text: `¥${p.total_amount ?? ""}${p.tracking_no ? ` · ${p.carrier || ""} ${p.tracking_no}` : ""}` }));
  return card;
}

/** One message bubble. VIEWER is "shopper" or "agent"; IMAGE_SRC(token) gives an <img> source. */
export function renderMessage(m, { viewer, imageSrc, timeZone, labels }) {
  const mine = viewer === "shopper" ? m.sender_kind === "shopper" : (m.sender_kind === "agent");
  const isEvent = m.kind === "event";
  const classes = ["msg"];
  if (mine) classes.push("mine");
  if (m.internal) classes.push("internal");
  if (isEvent) classes.push("event");
  const who = el("div", { class: "who" });
  if (!isEvent) {
    let name;
    if (m.sender_kind === "shopper") name = viewer === "shopper" ? labels.me : labels.shopper;
    else if (m.sender_kind === "robot") name = labels.robot;
    else if (m.sender_kind === "system") name = labels.system;
    else name = (m.seat && m.seat.display_name) || labels.agent;
    who.append(document.createTextNode(`${name} · ${fmtTime(m.created_at, timeZone)}`));
    if (m.internal) who.append(el("span", { class: "badge", text: labels.internal }));
    // left through the form while nobody was online; the contact is on the customer's profile
    if (viewer !== "shopper" && m.payload && m.payload.left_message) {
      const hint = { phone: labels.leftPhone, wechat: labels.leftWechat }[m.payload.contact];
      who.append(el("span", { class: "badge left-message", text: hint ? `${labels.leftMessage} · ${hint}` : labels.leftMessage }));
    }
  }
  const bubble = el("div", { class: "bubble" });
  if (m.kind === "image" && m.payload && m.payload.attachment) {
    const img = el("img", { alt: labels.image, loading: "lazy" });
    Promise.resolve(imageSrc(m.payload.attachment)).then((src) => { if (src) img.src = src; });
    img.addEventListener("click", () => { if (img.src) window.open(img.src, "_blank", "noopener"); });
    bubble.append(img);
  } else if (m.kind === "card" && m.payload && m.payload.type === "order") {
    bubble.append(renderOrderCard(m.payload, labels));
  } else if (m.kind === "card" && m.payload && m.payload.type === "product") {
    const p = m.payload;
    const card = el("div", { class: "product-card" }, el("strong", { text: p.title || labels.card }));
    if (p.price) card.append(el("div", { class: "price", text: `¥${p.price}` }));
    if (p.material) card.append(el("div", { class: "muted small", text: p.material }));
    bubble.append(card);
  } else if (m.kind === "card" && m.payload && m.payload.type === "questionnaire") {
    // a link to the shop's own answer page (crm): only a same-site path is made clickable
    const p = m.payload;
    const card = el("div", { class: "product-card questionnaire-card" },
      el("strong", { text: `${labels.questionnaire} · ${p.title || ""}` }));
    if (typeof p.url === "string" && /^\/[^/\\]/.test(p.url)) {
      card.append(el("a", { href: p.url, target: "_blank", rel: "noopener", text: labels.openQuestionnaire }));
    }
    bubble.append(card);
  } else if (m.kind === "card") {
    const p = m.payload || {};
    bubble.append(el("strong", { text: p.title || labels.card }));
    if (m.body) bubble.append(el("div", { text: m.body }));
    if (p.price) bubble.append(el("div", { class: "muted small", text: String(p.price) }));
    // another app's link card (a return address, a rating): only a same-site path is made clickable
    if (typeof p.url === "string" && /^\/[^/\\]/.test(p.url)) {
      bubble.append(el("a", { class: "card-link", href: p.url, target: "_blank", rel: "noopener",
                              text: String(p.link_text || labels.card) }));
    }
  } else {
    bubble.textContent = m.body;
  }
  const node = el("div", { class: classes.join(" "), "data-seq": m.seq || "", "data-client": m.client_id || "" },
    isEvent ? null : who, bubble, el("div", { class: "status" }));
  if (isEvent) bubble.title = fmtTime(m.created_at, timeZone);
  return node;
}

/** The node a message with SEQ goes before: the first stored one with a higher seq, else the first
 * still-pending one (not yet acknowledged), else the end. */
export function insertionPoint(list, seq) {
  for (const child of list.querySelectorAll(".msg")) {
    if (child.classList.contains("pending")) return child;
    if (Number(child.dataset.seq) > seq) return child;
  }
  return null;
}
