// Live pages of the console: swap in what the server sends, keep the clocks running.
// No framework and no inline script (the pages' Content-Security-Policy forbids it).
"use strict";
(function () {
  const root = document.querySelector("[data-live]");
  if (!root) return;
  const state = document.querySelector("[data-live-state]");
  let skew = 0; // server time minus this browser's time, seconds

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  function tick() {
    const now = Date.now() / 1000 + skew;
    for (const el of root.querySelectorAll("[data-since]")) {
      el.textContent = clock(now - parseFloat(el.dataset.since));
    }
  }
  function adopt() {
    const board = root.querySelector("[data-now]");
    if (board) skew = parseFloat(board.dataset.now) - Date.now() / 1000;
    tick();
  }
  const source = new EventSource(root.dataset.live);
  source.addEventListener("board", (event) => {
    root.innerHTML = event.data;
    adopt();
    root.dispatchEvent(new CustomEvent("board-updated"));
  });
  source.addEventListener("open", () => { if (state) state.textContent = "live"; });
  source.addEventListener("error", () => { if (state) state.textContent = "reconnecting…"; });
  // Supervisors' buttons on the wallboard: pause (with a reason) or resume an operator.
  async function post(url, body) {
    const token = document.querySelector("meta[name=csrf-token]").content;
    const answer = await fetch(url, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": token },
    });
    if (!answer.ok) window.alert(`Refused: ${answer.status} ${await answer.text()}`);
  }
  // Listen, whisper or barge: Asterisk rings the supervisor's own phone.
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-listen]");
    if (!button) return;
    const phone = window.prompt("Your phone (as Asterisk names it)",
      localStorage.getItem("console-phone") || "PJSIP/");
    if (!phone) return;
    localStorage.setItem("console-phone", phone);
    const body = new URLSearchParams({ mode: button.dataset.listen, phone });
    await post(`/console/supervise/operator/${button.dataset.op}/listen`, body);
  });
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const body = new URLSearchParams({ state: button.dataset.act });
    if (button.dataset.act === "paused") {
      const reason = window.prompt("Reason for the pause", "supervisor");
      if (reason === null) return;
      body.set("reason", reason);
    }
    await post(`/console/supervise/operator/${button.dataset.op}/state`, body);
  });
  // Move a waiting caller to another queue or to a named operator (place kept).
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-move]");
    if (!button) return;
    const kind = button.dataset.move;
    const where = window.prompt(kind === "queue" ? "Move to the queue (its id)" : "Move to the operator (id, e.g. op1002)", "");
    if (!where) return;
    const body = new URLSearchParams({ [kind]: where.trim() });
    await post(`/console/supervise/waiting/${encodeURIComponent(button.dataset.moveCall)}/move`, body);
  });
  adopt();
  setInterval(tick, 1000);
  // An open live page keeps its session from idling out (the stream cannot refresh it).
  setInterval(() => fetch("/console/keepalive", { credentials: "same-origin" }), 240000);
})();
