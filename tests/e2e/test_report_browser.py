"""The risk-committee report in a real browser: headless Chromium driven over DevTools.

The report is made as a user makes it (``creditdesk report`` in a subprocess), then opened
from disk in Chromium. The test fails on any script exception or console error, checks
that the summary comes first and every section is shown with its charts loaded, follows
the link to the Evidently page, and saves a full-page screenshot under ``var/e2e/``.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT

CREDITDESK = Path(sys.executable).parent / "creditdesk"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = REPO_ROOT / "var" / "e2e"
SECTIONS = ("summary", "stability", "score", "performance", "portfolio", "ledger", "risk-controls")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1000",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"headless browser test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)",
    ),
]


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from Chromium in time")
        message: dict[str, Any] = json.loads(self._ws.recv(timeout=remaining))
        if "method" in message:
            self.events.append(message)
        return message

    def call(self, method: str, timeout_s: float = 60, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._receive(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def wait_for(self, event: str, timeout_s: float = 60) -> None:
        seen = len(self.events)
        if any(e["method"] == event for e in self.events[:seen]):
            return
        deadline = time.monotonic() + timeout_s
        while self._receive(deadline).get("method") != event:
            pass

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Script exceptions, console errors and browser-logged errors since the last navigation."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text"))[:500])
        return found


@pytest.fixture
def browser() -> Iterator[DevTools]:
    profile = Path(tempfile.mkdtemp(prefix="creditdesk-chromium-"))
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Chromium did not start: {(profile / 'chromium.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=30).json()
        page = next(t for t in targets if t.get("type") == "page")
        from websockets.sync.client import connect

        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            tools = DevTools(ws)
            for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
                tools.call(domain)
            yield tools
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def _population(n: int, seed: int, income_factor: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bureau = rng.normal(680, 60, n).round()
    utilisation = rng.beta(2, 5, n)
    pd_12m = 1 / (1 + np.exp(3.0 + (bureau - 680) / 40 - 2.0 * (utilisation - 0.3)))
    default = rng.random(n) < pd_12m
    return pd.DataFrame(
        {
            "bureau_score": bureau,
            "credit_utilisation": utilisation,
            "annual_income_minor": (rng.lognormal(11.5, 0.6, n) * 100 * income_factor).astype(np.int64),
            "employment": rng.choice(["employed", "self_employed", "retired"], n),
            "pd_12m": pd_12m,
            "grade": np.searchsorted([0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256], pd_12m)
            + 1,
            "default_12m": default,
            "application_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 180, n), unit="D"),
            "lgd": np.full(n, 0.25),
            "realised_lgd": np.where(default, rng.uniform(0.0, 0.6, n), np.nan),
        }
    )


INSPECT = """(() => {
  const sections = SECTION_IDS.map(id => {
    const el = document.getElementById(id);
    if (!el) return {id: id, present: false};
    const box = el.getBoundingClientRect();
    const h2 = el.querySelector('h2');
    return {id: id, present: true, top: box.top + window.scrollY, height: box.height,
            heading: h2 ? h2.textContent : null};
  });
  return {
    title: document.title,
    sections: sections,
    overall: document.getElementById('summary').dataset.overall,
    tiles: [...document.querySelectorAll('#summary .tile')].map(t => [t.dataset.section, t.dataset.light]),
    alerts: [...document.querySelectorAll('#summary ul.alerts li')].map(li => li.textContent),
    charts: [...document.querySelectorAll('img.chart')].map(i => [i.alt, i.complete && i.naturalWidth > 0]),
    link: document.getElementById('evidently-link') ? document.getElementById('evidently-link').href : null,
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  };
})()""".replace("SECTION_IDS", json.dumps(list(SECTIONS)))


def test_report_renders_in_chromium(browser: DevTools, tmp_path: Path) -> None:
    reference, current = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    _population(6000, seed=1).to_parquet(reference)
    _population(6000, seed=2, income_factor=0.5).to_parquet(current)
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            str(CREDITDESK),
            "report",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--out",
            str(out),
            "--evidently-rows",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr

    browser.navigate((out / "index.html").as_uri())
    page = browser.evaluate(INSPECT)
    assert browser.errors() == []
    assert page["title"].startswith("creditdesk risk-committee report")
    sections = {s["id"]: s for s in page["sections"]}
    assert all(s["present"] and s["height"] > 0 for s in sections.values()), sections
    assert sections["summary"]["top"] < min(sections[i]["top"] for i in SECTIONS[1:])
    assert sections["stability"]["heading"] == "Input stability"
    assert page["overall"] == "red"
    assert dict(page["tiles"])["stability"] == "red"
    assert [t[0] for t in page["tiles"]] == [s.replace("-", "_") for s in SECTIONS[1:]]
    assert any(alert.startswith("annual_income_minor") for alert in page["alerts"])
    alts = {alt for alt, _ in page["charts"]}
    assert {"PSI by feature", "Score distribution, reference and current", "Calibration by grade"} <= alts
    assert all(loaded for _, loaded in page["charts"]), page["charts"]

    metrics = browser.call("Page.getLayoutMetrics")["cssContentSize"]
    shot = browser.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": metrics["width"], "height": min(metrics["height"], 6000), "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOT_DIR / "report_index.png"
    target.write_bytes(png)
    from matplotlib import image

    pixels = image.imread(str(target))[..., :3]
    red_tile = np.all(np.abs(pixels - np.array([0xC6, 0x28, 0x28]) / 255) < 0.02, axis=-1)
    assert red_tile.sum() > 1000  # the red traffic light is actually painted

    assert page["link"] == (out / "drift.html").as_uri()
    browser.navigate(page["link"])
    time.sleep(1.0)  # Evidently renders its widgets after load
    assert browser.errors() == []
    text = browser.evaluate("document.body.innerText")
    assert "annual_income_minor" in text


def test_the_harness_sees_script_errors(browser: DevTools, tmp_path: Path) -> None:
    """Guard for the check above: a page that throws must be reported, or "no errors" means nothing."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><p>x</p><script>console.error('bad'); null.boom();</script></body></html>")
    browser.navigate(page.as_uri())
    errors = browser.errors()
    assert any("bad" in e for e in errors)
    assert any("TypeError" in e for e in errors)


BOOK_SECTIONS = (
    "vintages",
    "book",
    "market-risk",
    "provisions",
    "line-review",
    "matured-performance",
    "champion-challenger",
)
INSPECT_BOOK = """(() => SECTION_IDS.map(id => {
  const el = document.getElementById(id);
  if (!el) return {id: id, present: false};
  return {id: id, present: true, height: el.getBoundingClientRect().height,
          heading: el.querySelector('h2').textContent, rows: el.querySelectorAll('tbody tr').length,
          models: [...el.querySelectorAll('tbody tr td:first-child')].map(td => td.textContent),
          charts: [...el.querySelectorAll('img.chart')].map(i => [i.alt, i.complete && i.naturalWidth > 0])};
}))()""".replace("SECTION_IDS", json.dumps(list(BOOK_SECTIONS)))


@pytest.fixture(scope="module")
def book_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real book run (a 5,000-customer population, models trained on it, September and
    October 2008 with the stress lever on) and `creditdesk report --book` over it."""
    from tests.conftest import require_dataset

    require_dataset("sp500_prices/daily_prices.parquet")
    import datetime as dt

    from creditdesk.settings import get_settings
    from features.synthetic import PopulationConfig
    from models.selection import Budget
    from pipelines.book import BookConfig, run_book
    from pipelines.cmd_features import run_features
    from pipelines.generate import generate_population
    from pipelines.training import from_features_dir, train
    from tests.pipelines.test_book import small_account_policy

    root = tmp_path_factory.mktemp("book_report")
    pop, feats, models = root / "pop", root / "features", root / "models"
    with pytest.MonkeyPatch.context() as mp:  # training's MLflow run goes to a private var/
        mp.setenv("CREDITDESK_VAR_DIR", str(root / "var"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        get_settings.cache_clear()
        generate_population(5_000, seed=3, out_dir=pop, config=PopulationConfig(credit_event_rate=0.03))
        run_features(pop, feats)
        train(from_features_dir(pop), register=False, out_dir=models, budget=Budget(trials=2, seconds=5))
    get_settings.cache_clear()
    db = f"sqlite:///{root / 'book.db'}"
    run_book(
        BookConfig(
            population=pop,
            start=dt.date(2008, 9, 1),
            months=2,
            seed=11,
            database_url=db,
            models_dir=models,
            policy_path=small_account_policy(root),
            credit_event_multiplier=200.0,
        )
    )
    current = root / "current"
    report = root / "report"
    commands = (
        ["book", "export", "--db", db, "--features", str(feats), "--out", str(current)],
        ["book", "compare", "--features", str(feats), "--from", "2008-01-01", "--out", str(root / "cmp.json"),
         "--champion", str(models), "--challenger", str(models)],
        ["report", "--reference", str(models / "reference.parquet"), "--current", str(current),
         "--current-scores", str(current / "decisions.parquet"), "--book", db, "--book-population", str(pop),
         "--comparison", str(root / "cmp.json"), "--out", str(report), "--no-evidently"],
    )  # fmt: skip
    for args in commands:
        proc = subprocess.run(
            [str(CREDITDESK), *args], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    return report


def test_the_living_books_sections_render_in_chromium(browser: DevTools, book_report: Path) -> None:
    browser.navigate((book_report / "index.html").as_uri())
    sections = {s["id"]: s for s in browser.evaluate(INSPECT_BOOK)}
    assert browser.errors() == []
    assert all(s["present"] and s["height"] > 0 for s in sections.values()), sections
    assert sections["vintages"]["heading"] == "Vintage curves"
    assert sections["vintages"]["rows"] >= 2  # the September and October 2008 cohorts
    assert sections["provisions"]["rows"] == 3  # stages 1, 2 and 3
    assert {"champion", "challenger"} <= set(sections["champion-challenger"]["models"])
    assert sections["book"]["rows"] >= 2 + 10  # the figures and the two months
    charts = {alt: ok for s in sections.values() for alt, ok in s["charts"]}
    assert {"Vintage curves", "Book and margin activity by month"} <= set(charts) and all(charts.values())
    summary = json.loads((book_report / "summary.json").read_text())
    assert sorted(summary["vintages"]) == ["2008-09", "2008-10"]
    assert summary["book"]["totals"]["opened"] > 0 and summary["book"]["market_risk"]["var99_minor"] > 0
    assert summary["provisions"]["month_end"] == 20081031

    metrics = browser.call("Page.getLayoutMetrics")["cssContentSize"]
    top = browser.evaluate("document.getElementById('vintages').getBoundingClientRect().top + window.scrollY")
    shot = browser.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={
            "x": 0,
            "y": top,
            "width": metrics["width"],
            "height": min(metrics["height"] - top, 5000),
            "scale": 1,
        },
    )
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    (SCREENSHOT_DIR / "report_book.png").write_bytes(png)
