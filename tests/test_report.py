"""The HTML report: the answers first, every string from the run escaped, no request leaves the file,
every figure with its alternative text; and a real browser (headless Chromium) draws it with no console
error and without running anything a crafted run directory carries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from bench.analysis import html
from bench.format import load_run
from tests.synthetic import make_run

PAYLOAD = "<script>document.title='PWNED'</script>\"'><img src=x onerror=alert(1)>"


class _Page(HTMLParser):
    """The tags, attributes and section order of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headings: list[str] = []
        self._in_h = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_h = tag in ("h2", "h3")

    def handle_endtag(self, tag):
        self._in_h = False

    def handle_data(self, data):
        if self._in_h and data.strip():
            self.headings.append(data.strip())


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("syn") / "gpu-run"))


def test_the_report_leads_with_the_answers_and_shows_every_figure(gpu_run):
    text = html.render([gpu_run])
    page = _parse(text)
    heads = page.headings
    assert heads.index("Answers") < heads.index("Warnings") < heads.index("Every trial") < heads.index("More figures") \
        < heads.index("Machine and software") < heads.index("Command")
    assert heads[heads.index("Answers") + 1] == "Is the GPU worth it?"
    # the GPU answer: the planted run's GPU wins at large batches (intervals from the same samples)
    assert re.search(r"eager float32, batch 1024, hidden 8: the GPU runs at 2\.2x \[2\.\d\d, 2\.\d\d\] the CPU&#39;s "
                     r"speed: GPU faster", text)  # (1e-4 + 1024e-6) / (5e-4 + 1024e-8) = 2.203
    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) == 7 and all(a["alt"].strip() for a in imgs)  # every default figure but scaling (one replica)
    # each answer's figure right under it, before the next question: the GPU heatmap under the GPU answer
    gpu_section = text.split("<h3>Is the GPU worth it?</h3>", 1)[1].split("<h3>", 1)[0]
    assert 'id="fig-1-speedup_gpu_cpu"' in gpu_section
    more = text.split("<h2>More figures</h2>", 1)[1].split("</section>", 1)[0]
    assert 'id="fig-1-speedup_gpu_cpu"' not in more and 'id="fig-1-mse"' in more
    assert all(a["src"].startswith("data:image/svg+xml;base64,") for a in imgs)
    # nothing leaves the file: no URL but data: images and in-page anchors
    urls = [v for _, a in page.tags for k, v in a.items() if k in ("src", "href")]
    assert all(u.startswith(("data:", "#")) for u in urls), urls
    assert any(t == "meta" and a.get("http-equiv") == "Content-Security-Policy" for t, a in page.tags)


def test_every_string_from_a_run_is_escaped(tmp_path):
    run_dir = make_run(tmp_path / "crafted", devices="cpu")
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["command"] = ["python -m bench.run", PAYLOAD]
    meta["host"]["cpu_model"] = PAYLOAD
    meta["machines"] = {m: {**f, "cpu_model": PAYLOAD} for m, f in meta["machines"].items()}
    (run_dir / "meta.json").write_text(json.dumps(meta))
    text = html.render([load_run(run_dir)])
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in text
    assert not any(t == "script" for t, _ in _parse(text).tags)
    assert not any(t == "img" and a.get("src") == "x" for t, a in _parse(text).tags)


@pytest.mark.slow
def test_a_real_browser_draws_it(tmp_path, gpu_run):
    """Headless Chromium: no console message, no script ran (the crafted title stays), every image has its
    alternative text in the DOM, and the screenshot is drawn (not blank)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    run_dir = make_run(tmp_path / "crafted", devices="cpu,gpu")
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["command"] = ["python -m bench.run", PAYLOAD]
    meta["host"]["cpu_model"] = PAYLOAD
    (run_dir / "meta.json").write_text(json.dumps(meta))
    report = html.write_report([load_run(run_dir)])
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
    url = report.resolve().as_uri()
    shot = tmp_path / "shot.png"
    proc = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,2000", url],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    assert ":CONSOLE" not in proc.stderr, [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    page = _parse(dom)
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert not any(t == "script" for t, _ in page.tags)
    imgs = [a for t, a in page.tags if t == "img"]
    assert imgs and all(a.get("alt", "").strip() for a in imgs)
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    ink = (pixels.mean(axis=2) < 0.9).mean()  # share of pixels darker than near-white: text, tables, figures
    assert 0.01 < ink < 0.9 and float(np.std(pixels)) > 0.05, (ink, float(np.std(pixels)))


def test_the_report_command_for_several_runs(tmp_path, capsys):
    from bench.cli.report import main

    a, b = (make_run(tmp_path / name, devices="cpu", modes="eager") for name in ("a", "b"))
    assert main([str(a), str(b)]) == 2
    assert "--out: needed when several runs are given" in capsys.readouterr().err
    out = tmp_path / "both.html"
    assert main([str(a), str(b), "--out", str(out)]) == 0
    page = _parse(out.read_text())
    assert [h for h in page.headings if h.startswith("Run ")] == ["Run 1: a", "Run 2: b"]
    # every id once (a figure's full-size link targets its own figure, the overlays' too)
    ids = [attrs["id"] for _, attrs in page.tags if "id" in attrs]
    assert len(ids) == len(set(ids)) and "fig-2-all-runs-modes" in ids
    assert main([str(a)]) == 0 and (a / "report.html").exists()


def test_several_runs_lead_with_the_comparison_and_what_it_could_have_detected(tmp_path, monkeypatch):
    """Run 2 against run 1: the verdict table as bench.compare gives it, with the smallest detectable slowdown per
    configuration; a planted +30% on one configuration is the one `slower` row."""
    from bench.analysis import compare

    monkeypatch.setattr(html, "figures", lambda runs, names: ([], []))  # (the figures have tests of their own)

    slow = "cpu-eager-float32-b64-h8-t0"
    a = make_run(tmp_path / "a", devices="cpu", modes="eager")
    b = make_run(tmp_path / "b", devices="cpu", modes="eager",
                 slowdown=lambda t: 1.3 if (t["dtype"], t["batch_size"], t["size"]) == ("float32", 64, 8) else 1.0)
    text = html.render([load_run(a), load_run(b)])
    page = _parse(text)
    assert page.headings[0] == "Did the time change? Each run against a" and page.headings[1] == "b against a"
    rows = compare.compare(compare.load(a), compare.load(b))
    expected = compare.table_rows(rows)
    assert [r["verdict"] for r in rows if r["config"] == slow] == ["slower"]
    assert sum(r["verdict"] == "slower" for r in rows) == 1
    section = text.split('<section id="comparison">', 1)[1].split("</section>", 1)[0]
    cells = re.findall(r"<tr(?: class=\"not-ok\")?>(.*?)</tr>", section, re.S)
    shown = [row for row in (re.findall(r"<td>(.*?)</td>", c) for c in cells) if row]  # (the header has <th>)
    assert shown[0][0] == slow and shown[0][-1] == "slower"  # slower first
    assert sorted(map(tuple, shown)) == sorted(tuple(r.values()) for r in expected)
    assert all(s[6].startswith("+") and s[6].endswith("%") for s in shown)  # detectable, per configuration
    assert "is not evidence of no change" in section
    # runs with nothing in common (another workload's ids) say so instead of a table
    other = make_run(tmp_path / "c", devices="cpu", modes="graph")
    text = html.render([load_run(a), load_run(other)])
    assert "not compared" in text.split('<section id="comparison">', 1)[1].split("</section>", 1)[0]
