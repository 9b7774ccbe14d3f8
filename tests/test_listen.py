"""`sscodec listen`: the listening page (files, local links only), its A/B player and MUSHRA page in
a real headless Chromium, and the MUSHRA table of ratings files."""

import json
import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from sscodec.evaluation.eval_table import mean_ci
from sscodec.evaluation.listen import mushra
from sscodec.evaluation.listen.browser import find_chromium
from sscodec.evaluation.listen.versions import default_opus_kbps, point_label, system_points, wanted
from tests.conftest import sscodec


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed when it is missing (root and apt-get needed, else skip), as
    tests/test_slurm.py installs Slurm: the README's test command alone brings what it needs."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("no chromium on PATH: apt-get install chromium (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.skip(f"chromium could not be installed ({' '.join(command)}: "
                        f"{result.stderr.strip()[-300:]})")
    found = find_chromium()
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [(tag, v) for k, v in attrs if k in ("src", "href") and v is not None]


def _links(path):
    parser = _Links()
    with open(path) as f:
        parser.feed(f.read())
    return parser.links


@pytest.fixture(scope="module")
def page_dir(trained_bundle, tmp_path_factory):
    """A page of the tiny trained model on the embedded corpus: 1 clip per category."""
    out = tmp_path_factory.mktemp("listen") / "page"
    result = sscodec("listen", "--model", trained_bundle, "--data", "embedded",
                     "--per-category", "1", "--clip-seconds", "2", "--mushra", "--out", str(out))
    assert b"index.html: 3 clips" in result.stdout, result.stdout
    return str(out)


def test_page_holds_every_version_with_local_files_only(page_dir):
    page = json.load(open(os.path.join(page_dir, "listen.json")))
    assert [c["category"] for c in page["clips"]] == ["clean_speech", "noisy_speech", "music"]
    assert page["settings"]["kbps"] == [0.45, 0.9, 1.8]  # tiny: 4 quantizers, 0.45 kbps each
    assert page["settings"]["opus_kbps"] == [6.0, 24.0]  # comparable (Opus' lowest) and 4x
    for clip in page["clips"]:
        labels = [v["label"] for v in clip["versions"]]
        first = (["Clean reference", "Noisy input"] if clip["category"] == "noisy_speech"
                 else ["Original"])
        assert labels == first + ["sscodec 0.45 kbps", "sscodec 0.9 kbps", "sscodec 1.8 kbps",
                                  "Opus 6 kbps", "Opus 24 kbps", "codec2 3.2 kbps"]
        for version in clip["versions"]:
            if version["kind"] in ("model", "baseline"):
                assert version["kbps_actual"] > 0
                assert version["kbps_actual"] < 3 * version["kbps"] + 2  # the achieved rate
            names = (["visqol_speech", "pesq"] if clip["category"].endswith("speech")
                     else ["visqol_audio"])
            if version["kind"] != "reference":
                assert list(version["scores"]) == names
                assert all(v is None or 1 <= v <= 5 for v in version["scores"].values())
    assert os.path.isfile(os.path.join(page_dir, "rate_quality.png"))
    for name in ("index.html", "mushra.html"):
        links = _links(os.path.join(page_dir, name))
        assert links, name
        for tag, link in links:
            assert "://" not in link and not link.startswith(("/", "//")), (name, link)
            if tag in ("img", "audio"):
                assert os.path.isfile(os.path.join(page_dir, link)), (name, link)
        text = open(os.path.join(page_dir, name)).read()
        assert "<script src" not in text and "<link" not in text  # CSS and JS are inline
    index = open(os.path.join(page_dir, "index.html")).read()
    assert "achieved <b>" in index and 'src="rate_quality.png"' in index
    mushra_html = open(os.path.join(page_dir, "mushra.html")).read()
    for hidden in ("Opus", "codec2", "sscodec 0.9"):  # names only in the JSON for the ratings
        assert hidden not in mushra_html.split('id="mushra-data"')[0]


def test_film_models_get_denoised_versions_on_noisy_speech_only():
    codec = SimpleNamespace(film="film", bitrates=[1.5, 3.0, 6.0])
    points = system_points(codec, "m", [3.0, 6.0], [6.0, 24.0])
    assert [(p.system, p.kbps) for p in points] == [
        ("m", 3.0), ("m", 6.0), ("m+denoise", 3.0), ("m+denoise", 6.0), ("Opus", 6.0),
        ("Opus", 24.0), ("codec2", 3.2)]
    noisy, clean = SimpleNamespace(category="noisy_speech"), SimpleNamespace(category="music")
    assert sum(wanted(p, noisy) for p in points) == 7
    assert sum(wanted(p, clean) for p in points) == 5
    assert point_label(points[2], "m") == "sscodec 3 kbps, denoised"
    assert len(system_points(codec, "m", [3.0], [6.0], denoise=False)) == 3
    assert default_opus_kbps([1.5, 3, 6]) == [6.0, 24.0]
    assert default_opus_kbps([12]) == [12.0, 48.0]


def _ratings(listener, values):
    """A ratings file: `values` maps (clip, category) to {system: rating}."""
    return {"format": mushra.FORMAT, "listener": listener, "page": {"seed": 0},
            "trials": [{"clip": clip, "category": category,
                        "ratings": [{"system": s, "rating": r, "kbps_actual": None}
                                    for s, r in ratings.items()]}
                       for (clip, category), ratings in values.items()]}


def test_collect_gives_means_and_confidence_intervals(tmp_path):
    a = _ratings("a", {("x", "clean_speech"): {"Opus 6 kbps": 40, mushra.HIDDEN_REFERENCE: 100},
                       ("y", "noisy_speech"): {"Opus 6 kbps": 30, mushra.HIDDEN_REFERENCE: 95}})
    b = _ratings("b", {("x", "clean_speech"): {"Opus 6 kbps": 60, mushra.HIDDEN_REFERENCE: 80},
                       ("y", "noisy_speech"): {"Opus 6 kbps": 50, mushra.HIDDEN_REFERENCE: 70}})
    paths = []
    for data in (a, b):
        paths.append(str(tmp_path / f"{data['listener']}.json"))
        json.dump(data, open(paths[-1], "w"))
    result = mushra.aggregate([mushra.read_ratings(p) for p in paths])
    opus = result["systems"]["Opus 6 kbps"]
    assert opus["all"] == mean_ci([40, 30, 60, 50])
    assert opus["all"]["mean"] == 45 and opus["all"]["n"] == 4
    assert opus["clean_speech"] == mean_ci([40, 60])
    assert result["systems"][mushra.HIDDEN_REFERENCE]["all"]["mean"] == pytest.approx(86.25)
    assert [s["listener"] for s in result["screened"]] == ["b"]  # 2 of 2 below 90
    out = tmp_path / "table.md"
    printed = sscodec("listen", "--collect", *paths, "--out", str(out)).stdout.decode()
    assert printed.strip() == out.read_text().strip()
    ci = 1.96 * (((40 - 45) ** 2 + (30 - 45) ** 2 + (60 - 45) ** 2 + (50 - 45) ** 2) / 3 / 4) ** .5
    assert f"| Opus 6 kbps | – | 4 | 45.0 ± {ci:.1f} | 50.0 ± " in printed
    lines = [line for line in printed.splitlines() if line.startswith("| ")]
    assert lines[1].startswith(f"| {mushra.HIDDEN_REFERENCE} |")  # best first
    assert "b rated the hidden reference below 90 in 2 of 2 trials" in printed


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    (json.dumps({"format": "other"}), '"format" must be'),
    (json.dumps({"format": mushra.FORMAT, "trials": []}), "non-empty list"),
    (json.dumps(_ratings("c", {("x", "music"): {"Opus 6 kbps": 150}})), "from 0 to 100, got 150"),
    (json.dumps(_ratings("c", {("x", "music"): {"Opus 6 kbps": "70"}})), "got '70'"),
    (json.dumps({"format": mushra.FORMAT, "trials": [{"clip": "x", "ratings": [{"rating": 5}]}]}),
     'no "system"'),
])
def test_collect_refuses_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(mushra.RatingsError, match="bad.json: not a ratings file") as error:
        mushra.read_ratings(str(path))
    assert message in str(error.value)


def test_collect_cli_error_is_clear(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_ratings("c", {("x", "music"): {"Opus 6 kbps": -1}})))
    result = sscodec("listen", "--collect", str(path), check=False)
    assert result.returncode == 2
    assert "rating must be a number from 0 to 100, got -1" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_trial_order_is_seeded_per_clip():
    assert mushra.trial_order(0, 3, 9) == mushra.trial_order(0, 3, 9)
    assert sorted(mushra.trial_order(0, 3, 9)) == list(range(9))
    assert mushra.trial_order(0, 3, 9) != mushra.trial_order(0, 4, 9)
    assert mushra.trial_order(0, 3, 9) != mushra.trial_order(1, 3, 9)


# ------------------------------------------------------------------------- in a real browser

WAIT_FOR_AUDIO = """
Promise.race([
  Promise.all(Array.from(document.querySelectorAll("audio")).map((a) => a.readyState >= 1 ? 0 :
    new Promise((done) => { a.addEventListener("loadedmetadata", done);
                            a.addEventListener("error", done); }))),
  new Promise((done) => setTimeout(done, 30000)),
]).then(() => Array.from(document.querySelectorAll("audio")).map((a) =>
  ({src: a.getAttribute("src"), ready: a.readyState, duration: a.duration,
    error: a.error ? a.error.code : null})))
"""


def _key(browser, key):
    code = {"ArrowDown": 40, "ArrowUp": 38}[key] if len(key) > 1 else ord(key)
    for kind in ("keyDown", "keyUp"):
        browser.send("Input.dispatchKeyEvent", session=True, type=kind, key=key,
                     windowsVirtualKeyCode=code, **({"text": key} if len(key) == 1 else {}))


def test_page_in_headless_chromium(chromium, page_dir, tmp_path):
    from sscodec.evaluation.listen.browser import Browser

    with Browser(1200, 900) as browser:
        browser.open("file://" + os.path.join(page_dir, "index.html"))
        audios = browser.evaluate(WAIT_FOR_AUDIO)
        assert len(audios) == 3 * 7 + 1  # noisy speech has the clean reference and the input
        for audio in audios:
            assert audio["ready"] >= 1 and audio["error"] is None, audio
            assert 1.9 < audio["duration"] < 2.1, audio  # a real, finite duration
        # A/B: a click switches versions at the same position.
        state = """(() => { const c = window.sscodecListen.clips[0];
            const a = Array.from(c.querySelectorAll("audio"));
            return {current: Number(c.dataset.current), times: a.map((x) => x.currentTime),
                    paused: a.map((x) => x.paused),
                    pressed: Array.from(c.querySelectorAll("button.pick")).map(
                        (b) => b.getAttribute("aria-pressed"))}; })()"""
        browser.evaluate('document.querySelectorAll(".clip")[0].querySelector("audio")'
                         ".currentTime = 1.25")
        browser.evaluate('document.querySelectorAll(".clip")[0]'
                         '.querySelectorAll("button.pick")[3].click()')
        s = browser.evaluate(state)
        assert s["current"] == 3 and s["pressed"][3] == "true" and s["pressed"][0] == "false"
        assert s["times"][3] == pytest.approx(1.25, abs=0.01)
        # Keys: 5 picks the fifth version, the down arrow the next one, at the same position.
        _key(browser, "5")
        s = browser.evaluate(state)
        assert s["current"] == 4 and s["times"][4] == pytest.approx(1.25, abs=0.01)
        _key(browser, "ArrowDown")
        s = browser.evaluate(state)
        assert s["current"] == 5 and s["times"][5] == pytest.approx(1.25, abs=0.01)
        # Playing stays playing across a switch, and only the chosen version plays.
        browser.evaluate("window.sscodecListen.toggle(window.sscodecListen.clips[0])")
        time.sleep(0.3)
        _key(browser, "2")
        s = browser.evaluate(state)
        assert s["current"] == 1 and s["paused"] == [i != 1 for i in range(len(s["paused"]))]
        assert s["times"][1] >= 1.25
        browser.evaluate("window.sscodecListen.toggle(window.sscodecListen.clips[0])")
        assert browser.evaluate(state)["paused"][1] is True
        shot = browser.screenshot(str(tmp_path / "listen.png"))
        assert open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        assert browser.errors == []

        # The MUSHRA page: rate, download the JSON, tabulate it.
        browser.send("Browser.setDownloadBehavior", behavior="allow",
                     downloadPath=str(tmp_path))
        browser.open("file://" + os.path.join(page_dir, "mushra.html"))
        audios = browser.evaluate(WAIT_FOR_AUDIO)
        assert all(a["ready"] >= 1 and a["error"] is None for a in audios), audios
        browser.evaluate("""document.getElementById("listener").value = "test listener";
            document.querySelectorAll("input.rating").forEach((s, i) => {
                s.value = String((i * 7) % 101); s.dispatchEvent(new Event("input")); });""")
        browser.evaluate('document.getElementById("download").click()')
        saved = tmp_path / "mushra_test_listener.json"
        for _ in range(100):
            if saved.exists() and saved.stat().st_size:
                break
            time.sleep(0.1)
        assert browser.errors == []
    ratings = mushra.read_ratings(str(saved))
    assert ratings["listener"] == "test listener" and len(ratings["trials"]) == 3
    systems = [r["system"] for r in ratings["trials"][0]["ratings"]]
    assert mushra.HIDDEN_REFERENCE in systems and mushra.ANCHOR in systems
    assert len(systems) == 6 + 2 and all(r["moved"] for r in ratings["trials"][0]["ratings"])
    codec2 = mushra.aggregate([ratings])["systems"]["codec2 3.2 kbps"]
    assert codec2["all"]["n"] == 3 and 3.2 <= codec2["kbps_actual"] < 3.5
    assert "| codec2 3.2 kbps |" in mushra.collect([str(saved)])
