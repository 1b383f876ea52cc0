"""The report as a reader sees it, in headless Chromium at a phone's width (390 px) and a desktop's (1280 px): no
page-level horizontal overflow, every figure at 90% or more of the content column, no text of an embedded SVG
outside its drawing, trial labels on one line, skipped trials with one reason on one row, and what every row
shares said once. The page is measured by a script in a wrapper page (the report itself runs no script)."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess

import markupsafe
import pandas as pd
import pytest

from bench.analysis import html
from bench.format import load_run
from tests.synthetic import make_run

SKIP_REASON = ("no GPU visible: tf.config.list_physical_devices('GPU') is empty (install '.[gpu]' on a machine "
               "with an NVIDIA driver, or leave gpu out of --devices)")
LONG_COMMAND = ["python -m bench.run", "--devices", "cpu,gpu", "--modes", "eager,graph,numpy", "--out",
                "results/a-rather-long-run-directory-name-that-does-not-fit-on-a-phone-screen-at-all",
                "--batch-sizes", "16,64,256,1024", "--sizes", "8,64", "--learning-rate=0.0001"]

# measures the report inside the iframe (same origin: srcdoc) and writes what it found into #result
MEASURE = r"""
<script>
function measure() {
  const doc = document.getElementById('page').contentDocument, win = doc.defaultView;
  const body = doc.body, cs = win.getComputedStyle(body);
  const column = body.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const figures = [...doc.querySelectorAll('figure img')].map(img => ({
    name: img.closest('figure').id, ratio: img.getBoundingClientRect().width / column}));
  const outside = [];
  for (const img of doc.querySelectorAll('figure img')) {
    const text = atob(img.src.split(',')[1]);
    const holder = doc.createElement('div');
    holder.style.cssText = 'position:absolute;left:0;top:0;visibility:hidden';
    holder.innerHTML = text.slice(text.indexOf('<svg'));
    body.appendChild(holder);
    const svg = holder.querySelector('svg'), box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      const out = r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
      if (r.width && out)
        outside.push(img.closest('figure').id + ': ' + t.textContent.slice(0, 40));
    }
    holder.remove();
  }
  const labels = [...doc.querySelectorAll('td.label')].map(td => {
    const range = doc.createRange();
    range.selectNodeContents(td.firstChild);  // the label's own text (a collapsed row's list of ids apart)
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return {text: td.firstChild.textContent, lines: tops.size};
  });
  document.getElementById('result').textContent = JSON.stringify({
    width: win.innerWidth, overflow: doc.documentElement.scrollWidth - win.innerWidth, column, figures, outside,
    labels, height: doc.documentElement.scrollHeight});
}
</script>
"""


def _run_with_skipped_gpu(path):
    run_dir = make_run(path, devices="cpu,gpu", modes="eager,graph,numpy")
    summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False, dtype=str)
    gpu = summary["device"] == "gpu"
    summary.loc[gpu, "status"] = "skipped"
    summary.loc[gpu, "reason"] = SKIP_REASON
    summary.loc[gpu, "stop_reason"] = ""
    summary.loc[gpu, "repeats"] = "0"
    for col in summary.columns[list(summary.columns).index("n"):-1]:  # the statistics of what was not measured
        if col != "loss":  # the workload's loss is named on every row
            summary.loc[gpu, col] = "0" if col in ("n", "elapsed_s") else ""
    summary.to_csv(run_dir / "summary.csv", index=False)
    for name in ("raw.csv", "repeats.csv"):  # a skipped trial measured nothing
        table = pd.read_csv(run_dir / name, keep_default_na=False, dtype=str)
        table[~table["config_id"].isin(set(summary.loc[gpu, "config_id"]))].to_csv(run_dir / name, index=False)
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["command"] = LONG_COMMAND
    (run_dir / "meta.json").write_text(json.dumps(meta))
    return load_run(run_dir)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("layout")
    run = _run_with_skipped_gpu(tmp / "run")
    return run, html.render([run])


def measure(page: str, width: int, tmp_path) -> dict:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    wrapper = tmp_path / f"wrapper-{width}.html"
    wrapper.write_text(f'<!doctype html><html><body style="margin:0"><iframe id="page" onload="measure()" '
                       f'style="width:{width}px;height:1200px;border:0" srcdoc="{htmllib.escape(page, quote=True)}">'
                       f'</iframe><pre id="result"></pre>{MEASURE}</body></html>')
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / f'profile-{width}'}", "--virtual-time-budget=15000",
             f"--window-size={width + 40},1400"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", wrapper.as_uri()], capture_output=True, text=True,
                         timeout=180).stdout
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found and found.group(1).strip(), dom[-2000:]
    return json.loads(htmllib.unescape(found.group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("width", [390, 1280])
def test_the_report_reads_at_a_phone_and_a_desktop_width(report, width, tmp_path):
    run, page = report
    got = measure(page, width, tmp_path)
    assert got["width"] == width
    assert got["overflow"] <= 0, f"the page scrolls sideways by {got['overflow']} px at {width} px"
    assert got["figures"] and all(f["ratio"] >= 0.9 for f in got["figures"]), got["figures"]
    assert got["outside"] == [], got["outside"]
    # a trial's label is one line: what tells the trials apart (b16 h8), not the whole configuration id
    assert got["labels"] and all(label["lines"] == 1 for label in got["labels"]), got["labels"]
    n_skipped = int((run.summary["status"] == "skipped").sum())
    assert n_skipped > 1
    assert [label["text"] for label in got["labels"]].count(f"{n_skipped} trials") == 1


def test_the_table_collapses_skipped_trials_and_says_what_every_row_shares(report):
    run, page = report
    table = page.split('<section id="table">', 1)[1].split("</section>", 1)[0]
    assert table.count(str(markupsafe.escape(SKIP_REASON))) == 1  # 32 skipped trials, one row
    ok = run.summary[run.summary["status"] == "ok"]
    assert table.count("<tr") == len(ok) + 1 + 1  # the header, every ok trial, the one skipped row
    # every trial here ran on one machine: the machine said once, not a column of copies
    assert "<th>machine</th>" not in table and "Every trial:" in table and run.label.split(",")[0] in table
    # the labels name what varies (device, mode, dtype, batch, size), each trial's whole id in its title
    for cid in ok["config_id"]:
        assert f'title="{cid}"' in table
    assert re.search(r'title="cpu-eager-float32-b16-h8-t0">cpu eager float32 b16 h8<', table)
    # the command wraps between its words, never inside one
    assert "break-all" not in page
