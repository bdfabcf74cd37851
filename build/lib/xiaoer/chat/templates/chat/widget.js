/* xiaoer chat widget: <script src=".../s/<shop>/widget.js" async></script> */
(function () {
  if (window.__xiaoerWidget) return;
  window.__xiaoerWidget = true;
  var url = {{ chat_url|safe }}, label = {{ label|safe }}, title = {{ title|safe }};
  var btn = document.createElement("button");
  btn.type = "button";
  btn.textContent = label;
  btn.setAttribute("aria-label", title);
  btn.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483646;border:0;border-radius:24px;" +
    "padding:12px 20px;background:#ff5000;color:#fff;font:15px/1.2 system-ui,sans-serif;cursor:pointer;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.2)";
  var frame = null;
  btn.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = url;
      frame.title = title;
      frame.style.cssText = "position:fixed;right:20px;bottom:76px;z-index:2147483647;width:min(380px,calc(100vw - 40px));" +
        "height:min(600px,calc(100vh - 110px));border:0;border-radius:12px;background:#fff;box-shadow:0 8px 32px rgba(0,0,0,.25)";
      document.body.appendChild(frame);
    } else {
      frame.style.display = frame.style.display === "none" ? "block" : "none";
    }
  });
  (document.body ? Promise.resolve() : new Promise(function (r) { document.addEventListener("DOMContentLoaded", r); }))
    .then(function () { document.body.appendChild(btn); });
})();
