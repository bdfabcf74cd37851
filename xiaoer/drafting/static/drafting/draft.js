// 「AI 草稿」 in the robot panel: stream the draft into the composer, then show its warnings and
// sources; rewrite tools work on whatever is in the composer. Loaded with every panel refresh:
// the handlers are added once. Text goes in with .value / .textContent only, never as HTML.
(function () {
  if (window.xiaoerDraft) return;
  window.xiaoerDraft = true;
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const composer = () => document.getElementById("composer-text");

  function show(box, out) {
    box.replaceChildren();
    const line = (text, cls) => {
      const p = document.createElement("p");
      p.className = "small " + (cls || "");
      p.textContent = text;
      box.append(p);
    };
    const labels = box.dataset;
    if (out.outcome === "fallback") line(labels.fallback + (out.reason ? ` (${out.reason})` : ""), "muted");
    for (const reason of out.handoff || []) line(labels.handoff + " · " + (labels[reason] || reason), "warn");
    for (const flag of out.flags || []) line(`⚠ ${flag.text} — ${flag.reason}`, "warn");
    for (const s of out.sentences || []) line(`${s.text} ← ${s.label || labels.nosource}`, s.source ? "muted" : "warn");
    if (out.sendable) line(labels.clean, "muted");
  }

  async function streamDraft(panel) {
    const box = panel.querySelector(".draft-result");
    const input = composer();
    if (!input) return;
    input.value = "";
    box.textContent = box.dataset.working || "…";
    const res = await fetch(panel.dataset.draftUrl, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() } });
    if (!res.ok || !res.body) { box.textContent = `${res.status}`; return; }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const name = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (name === "delta") input.value += data.text;
        else if (name === "replace") input.value = data.text;
        else if (name === "done") { input.value = data.text; show(box, data); }
      }
    }
    input.focus();
  }

  async function rewrite(panel, style) {
    const input = composer();
    const box = panel.querySelector(".draft-result");
    if (!input || !input.value.trim()) return;
    const res = await fetch(panel.dataset.rewriteUrl, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ text: input.value, style, language: panel.querySelector("[name=draft-language]").value }) });
    if (!res.ok) { box.textContent = `${res.status}`; return; }
    const out = await res.json();
    input.value = out.text;
    show(box, { ...out, sentences: [] });
    input.focus();
  }

  document.addEventListener("click", (ev) => {
    const start = ev.target.closest && ev.target.closest("[data-draft-start]");
    const tool = ev.target.closest && ev.target.closest("[data-rewrite]");
    const panel = (start || tool) && (start || tool).closest("[data-draft-url]");
    if (!panel) return;
    ev.preventDefault();
    if (start) streamDraft(panel);
    else rewrite(panel, tool.dataset.rewrite);
  });
})();
