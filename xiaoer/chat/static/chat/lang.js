// The language menu submits its form on change. A static file, not an inline onchange handler:
// the Content-Security-Policy allows no inline script (xiaoer/security.py).
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.name === "language" && select.form) select.form.submit();
});
