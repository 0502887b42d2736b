// The Pulse inbox: live regions, keyboard shortcuts and the controls. No build step, no CDN.
"use strict";
(() => {
  const KEY_STORE = "pulse-inbox-admin-key";
  const token = document.querySelector('meta[name="pulse-inbox-token"]').content;
  let refreshing = false;

  // -- live regions: re-read this page every second and swap what changed -----------------
  async function refresh() {
    if (refreshing || document.hidden) return;
    refreshing = true;
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const tokenNow = fresh.querySelector('meta[name="pulse-inbox-token"]');
      if (tokenNow && tokenNow.content !== token) { location.reload(); return; }
      for (const region of document.querySelectorAll("[data-live]")) {
        const next = region.id && fresh.getElementById(region.id);
        if (!next || next.innerHTML === region.innerHTML) continue;
        const active = document.activeElement;
        const hadFocus = active && region.contains(active);
        const focusKey = hadFocus && (active.id ? "#" + CSS.escape(active.id)
          : active.getAttribute("href") ? `a[href="${CSS.escape(active.getAttribute("href"))}"]` : null);
        region.innerHTML = next.innerHTML;
        if (focusKey) { const again = region.querySelector(focusKey); if (again) again.focus(); }
      }
    } catch (err) {
      // the server stopped or restarted: try again on the next tick
    } finally {
      refreshing = false;
    }
  }
  setInterval(refresh, 1000);
  document.addEventListener("visibilitychange", refresh);

  // -- keyboard: "/" focuses search, j/k move between messages ----------------------------
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest && target.closest("input, select, textarea, dialog")) return;
    if (event.key === "/") {
      const search = document.getElementById("f-q");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "j" || event.key === "k") {
      const links = [...document.querySelectorAll("article.message h2 a")];
      if (!links.length) return;
      const at = links.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
      links[at === -1 ? 0 : next].focus();
      event.preventDefault();
    }
  });

  // -- the admin key: asked once per tab, in a dialog -------------------------------------
  function askKey(message) {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    document.getElementById("key-error").textContent = message || "";
    input.value = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const key = dialog.returnValue === "ok" ? input.value.trim() : "";
        if (key) sessionStorage.setItem(KEY_STORE, key);
        resolve(key);
      }, { once: true });
      dialog.showModal();
      input.focus();
    });
  }

  function formBody(form, submitter) {
    const body = {};
    for (const field of form.elements) {
      if (!field.name || field.type === "submit") continue;
      if (field.type === "number") body[field.name] = field.value === "" ? null : Number(field.value);
      else body[field.name] = field.value;
    }
    if (submitter && submitter.name) body[submitter.name] = submitter.value;
    return body;
  }

  async function send(form, submitter) {
    const result = form.querySelector(".result") || form.parentElement.querySelector(".result");
    const show = (text, isError) => {
      if (!result) return;
      result.textContent = text;
      result.classList.toggle("error", Boolean(isError));
    };
    let key = sessionStorage.getItem(KEY_STORE) || await askKey();
    if (!key) { show("Cancelled: no admin key, nothing was changed.", true); return; }
    for (let tries = 0; tries < 2; tries += 1) {
      const response = await fetch(form.dataset.action, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Authorization": "Bearer " + key,
          "X-Pulse-Inbox-Token": token,
        },
        body: JSON.stringify(formBody(form, submitter)),
        cache: "no-store",
      });
      let answer = {};
      try { answer = await response.json(); } catch (err) { answer = {}; }
      if (response.status === 401 || response.status === 403) {
        sessionStorage.removeItem(KEY_STORE);
        const why = (answer.error && answer.error.message) || "refused";
        if (tries === 0 && (response.status === 401 || /role/.test(why))) {
          key = await askKey("That key was refused (" + why + "). Enter the admin key.");
          if (!key) break;
          continue;
        }
        show("Refused: " + why + ". Nothing was changed.", true);
        return;
      }
      if (!response.ok) {
        show("Error: " + ((answer.error && answer.error.message) || response.status), true);
        return;
      }
      show(answer.message || "Done.", false);
      refresh();
      return;
    }
    show("Cancelled: no admin key, nothing was changed.", true);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form.control")) return;
    event.preventDefault();
    send(form, event.submitter);
  });
})();
