// Live progress bars: poll the active runs and draw one bar per run that is really active.
(function () {
  "use strict";
  const box = document.getElementById("runs");
  if (!box) return;
  const list = box.querySelector("[data-runs]");
  const empty = box.querySelector("[data-empty]");
  const POLL_MS = 1000;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(run) {
    let card = list.querySelector('[data-run="' + run.id + '"]');
    if (!card) {
      card = el("div", "run");
      card.dataset.run = run.id;
      const head = el("header");
      head.append(el("span", "name"), el("span", "percent"));
      const bar = el("div", "bar");
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.append(el("span"));
      card.append(head, bar, el("div", "counts"));
      list.append(card);
    }
    const percent = Math.round(run.progress * 100);
    card.querySelector(".name").textContent = run.name;
    card.querySelector(".percent").textContent = percent + "%";
    const bar = card.querySelector(".bar");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-label", run.name);
    bar.firstChild.style.width = percent + "%";
    card.querySelector(".counts").textContent =
      run.completed + " completed · " + run.failed + " failed · " + run.in_progress +
      " in progress · " + run.placed + " placed of " + run.total;
  }

  async function refresh() {
    try {
      const response = await fetch(box.dataset.endpoint, { credentials: "same-origin" });
      if (response.ok) {
        const runs = (await response.json()).runs.filter((run) => run.active);
        const live = new Set(runs.map((run) => String(run.id)));
        list.querySelectorAll("[data-run]").forEach((card) => {
          if (!live.has(card.dataset.run)) card.remove();
        });
        runs.forEach(draw);
        empty.hidden = runs.length > 0;
      }
    } catch (error) {
      // Network hiccup: keep the last picture and try again on the next tick.
    }
    setTimeout(refresh, POLL_MS);
  }

  refresh();
})();
