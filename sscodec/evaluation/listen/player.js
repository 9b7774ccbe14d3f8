// A/B playing for sscodec listening pages (index.html and mushra.html), inlined into the page.
// Each .clip holds several .version items, each with a button.pick and an <audio>. Picking a
// version (click, number keys 1-9 and 0, arrow keys) switches to it at the same play position and
// keeps playing if something was playing. Only one version of the whole page plays at a time.
"use strict";
(function () {
  const clips = Array.from(document.querySelectorAll(".clip"));
  let active = clips.length ? clips[0] : null;

  const audios = (clip) => Array.from(clip.querySelectorAll(".version audio"));
  const picks = (clip) => Array.from(clip.querySelectorAll(".version button.pick"));
  const current = (clip) => Number(clip.dataset.current || 0);
  const allAudios = () => Array.from(document.querySelectorAll(".version audio"));

  function clock(seconds) {
    if (!isFinite(seconds)) return "0:00.0";
    const m = Math.floor(seconds / 60);
    const s = (seconds - 60 * m).toFixed(1).padStart(4, "0");
    return m + ":" + s;
  }

  function show(clip) {
    const index = current(clip);
    picks(clip).forEach((button, i) => {
      button.setAttribute("aria-pressed", i === index ? "true" : "false");
      button.closest(".version").classList.toggle("selected", i === index);
    });
    const audio = audios(clip)[index];
    const playing = audio && !audio.paused;
    const play = clip.querySelector(".transport .play");
    if (play) {
      play.textContent = playing ? "\u275A\u275A Pause" : "\u25B6 Play";
      play.setAttribute("aria-label", (playing ? "Pause " : "Play ") + nameOf(clip, index));
    }
    const time = clip.querySelector(".transport .time");
    if (time && audio) time.textContent = clock(audio.currentTime) + " / " + clock(audio.duration);
    const now = clip.querySelector(".transport .now");
    if (now) now.textContent = "Now: " + nameOf(clip, index);
  }

  function nameOf(clip, index) {
    const button = picks(clip)[index];
    return button ? button.dataset.name || button.textContent.trim() : "";
  }

  // Switches `clip` to version `index` at the current one's position; keeps playing if playing.
  function select(clip, index) {
    const list = audios(clip);
    if (!list.length) return;
    index = Math.max(0, Math.min(list.length - 1, index));
    const from = list[current(clip)];
    const to = list[index];
    const playing = list.some((a) => !a.paused);
    const position = from.currentTime;
    allAudios().forEach((a) => { if (a !== to) a.pause(); });
    if (to !== from && isFinite(position)) to.currentTime = position;
    clip.dataset.current = String(index);
    active = clip;
    if (playing) to.play().catch(() => {});
    show(clip);
  }

  function toggle(clip) {
    const audio = audios(clip)[current(clip)];
    if (!audio) return;
    if (audio.paused) {
      allAudios().forEach((a) => { if (a !== audio) a.pause(); });
      audio.play().catch(() => {});
    } else {
      audio.pause();
    }
  }

  clips.forEach((clip) => {
    clip.dataset.current = clip.dataset.current || "0";
    picks(clip).forEach((button, i) => button.addEventListener("click", () => select(clip, i)));
    audios(clip).forEach((audio, i) => {
      // A version started from its own controls becomes the selected one; the others stop.
      audio.addEventListener("play", () => {
        allAudios().forEach((a) => { if (a !== audio) a.pause(); });
        clip.dataset.current = String(i);
        active = clip;
        show(clip);
      });
      ["pause", "timeupdate", "loadedmetadata", "ended"].forEach((type) =>
        audio.addEventListener(type, () => { if (current(clip) === i) show(clip); }));
    });
    clip.querySelectorAll(".version img.spec").forEach((img) => {
      // Clicking a spectrogram picks that version and jumps to the clicked time.
      img.addEventListener("click", (event) => {
        const i = Number(img.closest(".version").dataset.index);
        const audio = audios(clip)[i];
        const box = img.getBoundingClientRect();
        select(clip, i);
        if (isFinite(audio.duration)) {
          audio.currentTime = audio.duration * (event.clientX - box.left) / box.width;
        }
      });
    });
    const play = clip.querySelector(".transport .play");
    if (play) play.addEventListener("click", () => toggle(clip));
    ["pointerdown", "focusin"].forEach((type) =>
      clip.addEventListener(type, () => { active = clip; }));
    show(clip);
  });

  document.addEventListener("keydown", (event) => {
    if (!active || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    const tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || tag === "audio") return;
    const index = current(active);
    if (/^[0-9]$/.test(event.key)) {
      select(active, event.key === "0" ? 9 : Number(event.key) - 1);
    } else if (event.key === "ArrowDown" || event.key === "ArrowRight") {
      select(active, index + 1);
    } else if (event.key === "ArrowUp" || event.key === "ArrowLeft") {
      select(active, index - 1);
    } else if ((event.key === " " && tag !== "button") || event.key === "k") {
      toggle(active);
    } else {
      return;
    }
    event.preventDefault();
  });

  window.sscodecListen = { select: select, toggle: toggle, clips: clips };
})();
