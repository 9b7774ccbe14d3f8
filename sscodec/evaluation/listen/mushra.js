// MUSHRA-style rating for sscodec's mushra.html, inlined into the page after player.js.
// Each .trial lists the reference (version 0, named) and hidden conditions A, B, ... with a 0-100
// slider each. "Download ratings" saves every slider as JSON (a Blob and a download link: no
// server) for `sscodec listen --collect`.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("mushra-data").textContent);
  const status = document.getElementById("status");

  document.querySelectorAll("input.rating").forEach((slider) => {
    const output = document.getElementById(slider.getAttribute("aria-describedby"));
    const update = () => {
      slider.dataset.moved = "true";
      if (output) output.textContent = slider.value;
      unrated();
    };
    slider.addEventListener("input", update);
    slider.addEventListener("change", update);
  });

  function sliders(trial) {
    return Array.from(document.querySelectorAll(
      '.trial[data-trial="' + trial + '"] input.rating'));
  }

  function unrated() {
    const count = document.querySelectorAll('input.rating:not([data-moved="true"])').length;
    if (status) {
      status.textContent = count ? count + " sliders not moved yet." : "Every slider is set.";
    }
    return count;
  }

  // The ratings as the JSON that `sscodec listen --collect` reads.
  function ratings() {
    const listener = document.getElementById("listener").value.trim();
    return {
      format: "sscodec-mushra/1",
      page: data.page,
      listener: listener || "anonymous",
      saved: new Date().toISOString(),
      trials: data.trials.map((trial, t) => ({
        clip: trial.clip,
        category: trial.category,
        ratings: sliders(t).map((slider) => {
          const condition = trial.conditions[Number(slider.dataset.condition)];
          return {
            system: condition.system,
            kbps_actual: condition.kbps_actual,
            rating: Number(slider.value),
            moved: slider.dataset.moved === "true",
          };
        }),
      })),
    };
  }

  function download() {
    const result = ratings();
    const blob = new Blob([JSON.stringify(result, null, 1) + "\n"], { type: "application/json" });
    const link = document.getElementById("download-link");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = "mushra_" + result.listener.replace(/[^A-Za-z0-9_-]+/g, "_") + ".json";
    link.textContent = "Save " + link.download + " again";
    link.hidden = false;
    link.click();
    if (status) status.textContent = "Saved " + link.download + (unrated() ?
      " (" + unrated() + " sliders not moved: they count as their value)." : ".");
  }

  document.getElementById("download").addEventListener("click", download);
  unrated();
  window.sscodecMushra = { ratings: ratings, download: download };
})();
