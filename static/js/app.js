// Arthur Tasks: small behaviours by event delegation (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  // Lets the stylesheet hide what only a page without JavaScript needs (e.g. a "Switch" button).
  document.documentElement.classList.add("js");

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.getAttribute("data-copy")).then(function () {
        copy.setAttribute("data-copied", "true");
        window.setTimeout(function () { copy.removeAttribute("data-copied"); }, 1500);
      });
    }
  });

  // A link marked data-dialog opens that <dialog> (its confirm form) instead of the confirm page it
  // leads to without JavaScript; data-dialog-close closes it again.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    var dialog = opener && document.getElementById(opener.getAttribute("data-dialog"));
    if (dialog && dialog.showModal) {
      event.preventDefault();
      dialog.showModal();
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer && closer.closest("dialog")) {
      event.preventDefault();
      closer.closest("dialog").close();
    }
  });

  // A change form (data-once) is sent once: its submit buttons are disabled while it is in flight.
  // Disabled after the event, so the browser still submits the form; the server's one-time key
  // catches whatever gets through anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-once]");
    if (!form || event.defaultPrevented || form.hasAttribute("hx-post")) {
      return;
    }
    if (form.getAttribute("data-sent") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "true");
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  // A confirm dialog closes once its HTMX request is answered: the tracker then shows the job, or
  // the banner in #messages (behind the dialog otherwise) says what went wrong.
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog");
    if (dialog && dialog.open) {
      dialog.close();
    }
  });

  // The rule editor shows only the chosen type's settings (without JavaScript, all of them show).
  function showRuleConfig(select) {
    var scope = select.closest("[data-rule-editor]") || select.closest("form") || document;
    scope.querySelectorAll("[data-rule-config]").forEach(function (part) {
      part.hidden = part.getAttribute("data-rule-config") !== select.value;
    });
    // Prompt-only and response-only types fix their switches (the server checks them again).
    var only = function (name) { return (select.getAttribute(name) || "").split(" ").indexOf(select.value) >= 0; };
    var prompt = scope.querySelector("input[name$='apply_to_prompt']");
    var response = scope.querySelector("input[name$='apply_to_response']");
    if (prompt && response) {
      var promptOnly = only("data-prompt-only");
      var responseOnly = only("data-response-only");
      if (promptOnly) { prompt.checked = true; response.checked = false; }
      if (responseOnly) { prompt.checked = false; response.checked = true; }
      prompt.disabled = responseOnly;
      response.disabled = promptOnly;
    }
  }
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-rule-type-select]");
    if (select) {
      showRuleConfig(select);
    }
  });
  document.querySelectorAll("select[data-rule-type-select]").forEach(showRuleConfig);


  // A select marked data-autosubmit submits its form when changed (the workspace switcher).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.requestSubmit();
    }
  });
})();
