// The module page of /admin: "+ Add" another Redirect URI input, and the scopes of
// the chosen client template. Loaded from a file: the CSP allows no inline script.
(function () {
  "use strict";

  function init() {
    var box = document.getElementById("redirect-uris");
    var add = document.getElementById("add-redirect-uri");
    if (box && add) {
      add.hidden = false;
      add.addEventListener("click", function () {
        var inputs = box.querySelectorAll('input[name="redirect_uri"]');
        var input = document.createElement("input");
        input.type = "url";
        input.name = "redirect_uri";
        input.setAttribute("aria-label", "Redirect URI " + (inputs.length + 1));
        box.insertBefore(input, add);
        input.focus();
      });
    }

    var select = document.getElementById("client-template");
    var scopes = document.getElementById("client-scopes");
    if (select && scopes) {
      var show = function () {
        var option = select.options[select.selectedIndex];
        scopes.value = option ? option.getAttribute("data-scopes") || "" : "";
      };
      select.addEventListener("change", show);
      show();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
