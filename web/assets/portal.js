// The portal's own script, served by the binary. Every page works without it; it adds
// copy-to-clipboard buttons and asks before forms marked as needing confirmation.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  event.preventDefault();
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
    var label = button.textContent;
    // The page says "Copied" in the reader's language.
    button.textContent = button.getAttribute("data-copied") || "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
