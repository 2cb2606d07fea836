// Baton console: live fragments over server-sent events, and ticking "time left" labels.
// Fragments are rendered (and escaped) by the server; this file only swaps them in.
"use strict";

function timeLeft(iso) {
  if (!iso) return "no expiry";
  let s = Math.floor((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return "expired";
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d} d ${h} h left`;
  if (h) return `${h} h ${m} min left`;
  return m ? `${m} min ${s} s left` : `${s} s left`;
}

function tick() {
  for (const el of document.querySelectorAll("[data-expires]")) {
    el.textContent = timeLeft(el.dataset.expires);
  }
}

function follow(el) {
  const source = new EventSource(el.dataset.stream);
  source.addEventListener("update", (e) => { el.innerHTML = e.data; tick(); });
  source.addEventListener("end", () => {
    source.close();
    for (const badge of document.querySelectorAll(".live")) badge.remove();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-stream]")) follow(el);
  tick();
  setInterval(tick, 1000);
});
