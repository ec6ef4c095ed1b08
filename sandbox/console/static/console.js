// The console's little script: upload progress, gate reasons that point into the editor, confirms,
// and a refresh while a job runs. No framework, no build step.
"use strict";

function uploadWithProgress(form) {
  const bar = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  const err = document.getElementById("upload-error");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    bar.hidden = false;
    err.hidden = true;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        const pct = Math.round((100 * e.loaded) / e.total);
        bar.value = pct;
        text.textContent = pct + "%";
      }
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 201 && body.url) {
        window.location.assign(body.url);
      } else {
        err.textContent = (body.error && body.error.message) || ("HTTP " + xhr.status);
        err.hidden = false;
      }
    });
    xhr.addEventListener("error", () => { err.textContent = "network error"; err.hidden = false; });
    xhr.send(new FormData(form));
  });
}

function offsetOf(text, line, column) {
  let start = 0;
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    start = nl + 1;
  }
  return Math.min(start + column - 1, text.length);
}

function reasonsPointIntoEditor() {
  const sql = document.getElementById("sql");
  document.querySelectorAll("ol.reasons li").forEach((li) => {
    const line = parseInt(li.dataset.line, 10);
    const column = parseInt(li.dataset.column, 10);
    if (!sql || !line || !column) return;
    li.querySelector("a.goto").addEventListener("click", (ev) => {
      ev.preventDefault();
      const start = offsetOf(sql.value, line, column);
      const word = /^[\w\u4e00-\u9fff"'.*]+/.exec(sql.value.slice(start));
      sql.focus();
      sql.setSelectionRange(start, start + (word ? word[0].length : 1));
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const upload = document.getElementById("upload");
  if (upload) uploadWithProgress(upload);
  reasonsPointIntoEditor();
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (ev) => { if (!window.confirm(el.dataset.confirm)) ev.preventDefault(); });
  });
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) setTimeout(() => window.location.reload(), 1000 * parseInt(refresh.dataset.refresh, 10));
});
