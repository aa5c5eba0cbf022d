/* Zammad → Kimai Sync: the little the pages need beyond htmx. No inline script (CSP), no build.
 *
 * htmx swaps our 4xx fragments (they say what is wrong, where it is wrong: see the htmx-config
 * meta tag). What no fragment can say, a server error or a lost connection, is announced here,
 * in the #request-error box at the top of the page, and cleared by the next request.
 */
(function () {
  "use strict";

  function box() {
    return document.getElementById("request-error");
  }

  function show(message) {
    var el = box();
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    el.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:beforeRequest", function () {
    var el = box();
    if (el && !el.hidden) {
      el.hidden = true;
      el.textContent = "";
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status < 500) return; // 4xx fragments were swapped where they belong
    var id = xhr.getResponseHeader("X-Request-ID");
    show(
      "The server failed to do this (HTTP " + xhr.status + "). Nothing on this page was " +
        "updated; try again, and if it keeps failing, the server log has the details" +
        (id ? " (request " + id + ")." : ".")
    );
  });

  document.addEventListener("htmx:sendError", function () {
    show("The server could not be reached. Check your connection and try again.");
  });

  // A search box inside a form narrows a checkbox list; Enter there must not submit the form.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && target && target.matches && target.matches("input[data-picker]")) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:timeout", function () {
    show("The server took too long to answer. Try again in a moment.");
  });
})();
