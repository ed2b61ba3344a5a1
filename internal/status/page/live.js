// Refreshes the page body every two seconds from the same server-rendered HTML, so the page
// works without JavaScript and there is one renderer. Marks the page stale when Herald is gone.
(function () {
  "use strict";
  async function refresh() {
    try {
      const resp = await fetch(location.pathname, { cache: "no-store" });
      if (!resp.ok) throw new Error(resp.status);
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const next = doc.getElementById("page");
      if (next) document.getElementById("page").replaceWith(next);
    } catch (e) {
      const live = document.getElementById("live");
      if (live) { live.textContent = "herald is not answering (" + e.message + ")"; live.className = "down"; }
    }
  }
  setInterval(refresh, 2000);
})();
