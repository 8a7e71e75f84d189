// Latchkey dashboard: small conveniences on top of pages that work without
// JavaScript. No inline script anywhere: the Content-Security-Policy
// admits only this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A new secret's dialog opens modal, so focus stays in it until closed.
  for (const dialog of document.querySelectorAll("dialog[data-modal]")) {
    if (dialog.open) dialog.close();
    dialog.showModal();
  }

  // Copy buttons copy the text of the element they name.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = document.getElementById(button.dataset.copy + "-status");
      try {
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        if (status) status.textContent = "Copied to the clipboard.";
      } catch {
        source.select?.();
        if (status) status.textContent = "Copying was refused; the secret is selected, press Ctrl+C or ⌘C.";
      }
    });
  }

  // The custom grace period field is needed only when "Custom" is chosen.
  const custom = document.getElementById("grace-custom");
  if (custom) {
    const sync = () => {
      const chosen = document.querySelector("input[name=grace]:checked");
      custom.disabled = !chosen || chosen.value !== "custom";
    };
    for (const radio of document.querySelectorAll("input[name=grace]")) radio.addEventListener("change", sync);
    sync();
  }

  // Filter selects apply at once.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
