// KPI charts (docs/kpis.md): plotly.js from the plotly wheel, served as our own static file.
(function () {
  "use strict";
  const el = document.getElementById("kpi-data");
  if (!el || !window.Plotly) return;
  const data = JSON.parse(el.textContent);
  const zh = (document.documentElement.lang || "zh").startsWith("zh");
  const t = (cn, en) => (zh ? cn : en);
  const config = { displaylogo: false, responsive: true, modeBarButtons: [["toImage"]] };
  const base = { margin: { l: 48, r: 16, t: 8, b: 40 }, separators: ".,", font: { size: 12 },
    legend: { orientation: "h" }, height: 280 };

  window.Plotly.newPlot("kpi-trend", [
    { x: data.days, y: data.inquiries, name: t("询单", "Inquiries"), type: "scatter", mode: "lines+markers" },
    { x: data.days, y: data.ordered, name: t("下单", "Ordered"), type: "scatter", mode: "lines+markers" },
    { x: data.days, y: data.paid, name: t("付款", "Paid"), type: "scatter", mode: "lines+markers" },
    { x: data.days, y: data.conversion, name: t("付款转化率", "Payment conversion"), yaxis: "y2",
      type: "scatter", mode: "lines", line: { dash: "dot" }, hovertemplate: "%{y:.1%}<extra></extra>" },
  ], Object.assign({}, base, {
    xaxis: { type: "category" },
    yaxis: { title: { text: t("人数", "Buyers") }, rangemode: "tozero" },
    yaxis2: { overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1] },
  }), config);

  window.Plotly.newPlot("kpi-funnel", [{
    type: "funnel", y: [t("询单", "Inquiries"), t("下单", "Ordered"), t("付款", "Paid")], x: data.funnel,
    textinfo: "value+percent initial",
  }], Object.assign({}, base, { margin: { l: 64, r: 16, t: 8, b: 24 } }), config);

  window.Plotly.newPlot("kpi-distribution", [{
    type: "bar", x: data.distribution.map((b) => b.label), y: data.distribution.map((b) => b.count),
    hovertemplate: t("%{x}：%{y} 轮", "%{x}: %{y} turns") + "<extra></extra>",
  }], Object.assign({}, base, { yaxis: { title: { text: t("轮次", "Turns") }, rangemode: "tozero" } }), config);
})();
