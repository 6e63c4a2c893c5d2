"""The MLflow UI shows a real search's trials side by side: `mlflow ui` driven by headless Chromium.

A small search runs on the synthetic default, `mlflow ui` serves its tracking store on 127.0.0.1 and Debian's
Chromium (through chromedriver and selenium) opens the compare view of the search's child runs. The test reads the
λ params and the per-corpus UA metrics off the page and saves a screenshot to docs/mlflow-compare.png.

Chromium and chromedriver come from Debian (`bash .ci/browser-setup`); without them the test skips, or fails when
DISTSER_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WINDOW_WIDTH = 1700  # wide enough that the metric table (it virtualises columns too) renders every run's column
PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOT = PROJECT / "docs" / "mlflow-compare.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As root, in a container, on a closed network: no sandbox, no GPU, no /dev/shm, and none of the background
# requests (updates, sync, field trials) that would otherwise flood the network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--force-device-scale-factor=1", f"--window-size={WINDOW_WIDTH},1000"]
RENDER_TIMEOUT_S = 90  # the first load of the UI's bundle is slow on a small shared machine
SERVER_TIMEOUT_S = 120
SEARCH_NAME = "search-ui"
EXPERIMENT = "distser"


@pytest.fixture(scope="module")
def browser() -> tuple[Path, Path]:
    """Debian's Chromium and chromedriver, and selenium: skip without them, or fail under DISTSER_REQUIRE_BROWSER=1."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        reason = f"headless browser not available: missing {', '.join(missing)}; run `bash .ci/browser-setup` as root"
        if os.environ.get("DISTSER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DISTSER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def ui_search(browser, tmp_path_factory):
    """A real small search (2 λ proposals x 2 seeds, 4 epochs): (tracking URI, parent run, child runs in start order).

    Seeds of the selected proposal that ASHA cut short are trained to their end afterwards (its final
    phase), so there are 4 child runs or a few more.
    """
    import ray
    from mlflow.tracking import MlflowClient

    from distser.search import configure, run_search

    storage = tmp_path_factory.mktemp("search-ui")
    config, locations, options = configure([
        "--method", "cww+pel", "--holdout", "iemocap", "--seeds", "2", "--samples", "2", "--max-epochs", "4",
        "--synthetic-scale", "0.02", "--storage", str(storage), "--name", SEARCH_NAME, "--no-register"])
    started_ray = not ray.is_initialized()  # a Ray already up belongs to another fixture: leave it running
    if started_ray:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        run_search(config, locations, options)
    finally:
        if started_ray:
            ray.shutdown()  # frees the 2 cores for the server and the browser

    client = MlflowClient(locations.tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment)
    where = f"tags.`distser.search` = '{SEARCH_NAME}'"
    parents = client.search_runs([experiment.experiment_id], f"{where} and tags.`distser.role` = 'search'")
    children = client.search_runs([experiment.experiment_id], f"{where} and tags.`distser.role` = 'trial'",
                                  order_by=["attributes.start_time ASC"])
    assert len(parents) == 1 and len(children) >= 4
    return locations.tracking_uri, parents[0], children


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(ui_search, tmp_path_factory):
    """`mlflow ui` on a free port of 127.0.0.1 serving the search's store; its base URL. Killed at the end."""
    tracking_uri = ui_search[0]
    workdir = tmp_path_factory.mktemp("mlflow-ui")
    port = _free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    log = workdir / "server.log"
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
               "--default-artifact-root", (workdir / "artifacts").as_uri(),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        # Own process group: the server's workers go down with it.
        server = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow ui exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow ui not up after {SERVER_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)


@pytest.fixture
def driver(browser):
    """Headless Chromium under chromedriver, with a fresh profile; quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser
    profile = tempfile.mkdtemp(prefix="distser-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # An explicit driver path: selenium does not run Selenium Manager (which would download a driver).
    chrome = webdriver.Chrome(options=options, service=Service(str(chromedriver)))
    chrome.set_page_load_timeout(RENDER_TIMEOUT_S)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def compare_runs_url(base: str, run_ids: list[str], experiment_ids: list[str]) -> str:
    """MLflow 3's compare view of runs (Routes.getCompareRunPageRoute): ``#/compare-runs?runs=[..]&experiments=[..]``.

    >>> compare_runs_url("http://h:1", ["a1", "b2"], ["3"])
    'http://h:1/#/compare-runs?runs=%5B%22a1%22%2C%22b2%22%5D&experiments=%5B%223%22%5D'
    """
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids, separators=(",", ":")),
                                    "experiments": json.dumps(experiment_ids, separators=(",", ":"))},
                                   quote_via=urllib.parse.quote)
    return f"{base}/#/compare-runs?{query}"


def _table_row(driver, header: str) -> list[str]:
    """Cells (full text, not the truncated display) of the compare view's plain-table row headed ``header``."""
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.XPATH, f"//tr[th[normalize-space()='{header}']]/td")
    return [cell.get_attribute("textContent").strip() for cell in cells]


class MetricGrid:
    """The compare view's metric table: two virtualised react-virtualized grids (row headers | values).

    Only the rows near the scroll position are in the DOM, so the values grid is scrolled through. MLflow syncs the
    row-header grid to the values grid's position *before* its latest scroll event; scrolling twice lines them up.
    """

    ROW_NAMES = ("return Array.from(arguments[0].querySelectorAll('a[title=\"Plot chart\"]'))"
                 ".map(a => [a.textContent.trim(), parseFloat(a.parentElement.style.top)]);")
    ROW_VALUES = ("const [grid, top] = arguments;"
                  "return Array.from(grid.querySelectorAll('.ReactVirtualized__Grid__innerScrollContainer > div'))"
                  ".filter(cell => parseFloat(cell.style.top) === top)"
                  ".sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left))"
                  ".map(cell => cell.textContent.trim());")

    def __init__(self, driver) -> None:
        from selenium.webdriver.common.by import By

        self.driver = driver
        grids = driver.find_elements(By.CSS_SELECTOR, ".CompareRunView .ReactVirtualized__Grid[role='grid']")
        assert len(grids) == 2, f"expected the metric table's 2 grids, found {len(grids)}"
        self.headers, self.values = grids
        span = "return arguments[0].scrollHeight - arguments[0].clientHeight"
        self.max_top = driver.execute_script(span, self.values)
        # The row headers have no horizontal scroll bar below them: they end a bar's height short.
        self.max_header_top = driver.execute_script(span, self.headers)

    def _prop(self, element, name: str) -> float:
        return self.driver.execute_script(f"return arguments[0].{name}", element)

    # Scrolls, then lets a scroll event through and React render: two animation frames and a pause.
    SCROLL = ("const [grid, top, done] = arguments; grid.scrollTop = top; grid.scrollLeft = 0;"
              "const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)));"
              "frame().then(frame).then(() => done(grid.scrollTop));")

    def scroll_to(self, top: float, timeout_s: float = 30) -> None:
        """Both grids at offset ``top`` (the row headers to within 1 px, or at their end)."""
        top = max(0, min(top, self.max_top))
        if self.max_top <= 0:
            return
        first = top + 1 if top < self.max_top else top - 1
        deadline = time.monotonic() + timeout_s
        while True:
            for position in (first, top):
                self.driver.execute_async_script(self.SCROLL, self.values, position)
            headers, values = self._prop(self.headers, "scrollTop"), self._prop(self.values, "scrollTop")
            if abs(values - top) < 1 and abs(headers - min(top, self.max_header_top)) <= 1.5:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"metric table not lined up at {top}: row headers {headers}, values {values}")

    def rows(self) -> dict[str, float]:
        """Every metric name in the table, with its row's offset: the grids scrolled through top to bottom."""
        found: dict[str, float] = {}
        step = max(1, self._prop(self.values, "clientHeight") // 2)
        top = 0
        while True:
            self.scroll_to(top)
            found.update(self.driver.execute_script(self.ROW_NAMES, self.headers))
            if top >= self.max_top:
                break
            top += step
        return found

    def row_values(self, top: float) -> list[str]:
        """Displayed values of the row at offset ``top``, one per run (left to right)."""
        self.scroll_to(top)
        return self.driver.execute_script(self.ROW_VALUES, self.values, top)


def test_compare_view_shows_trials_lambdas_and_per_corpus_ua(ui_search, mlflow_ui, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, parent, children = ui_search
    run_ids = [child.info.run_id for child in children]
    experiment_id = children[0].info.experiment_id
    assert {child.data.tags["mlflow.parentRunId"] for child in children} == {parent.info.run_id}
    corpora = sorted(key.split("/", 1)[1] for key in children[0].data.metrics if key.startswith("valid_ua/"))
    assert "crema-d" in corpora and "iemocap" not in corpora  # iemocap is the held-out corpus

    url = compare_runs_url(mlflow_ui, run_ids, [experiment_id])
    driver.get(url)
    body = driver.find_element(By.TAG_NAME, "body")
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(
        lambda d: _table_row(d, "lambda_w") and d.find_elements(By.CSS_SELECTOR, ".ReactVirtualized__Grid"),
        message=f"compare view did not render in {RENDER_TIMEOUT_S} s: {url}")
    assert f"Comparing {len(children)} Runs from 1 Experiment" in body.text

    # One column per child run, in the order of the URL.
    id_row = driver.find_elements(By.XPATH, "//tr[th[normalize-space()='Run ID:']]/*[self::th or self::td][.//a]")
    shown_ids = [cell.get_attribute("textContent").strip() for cell in id_row]
    assert shown_ids == run_ids, f"run columns {shown_ids} != {run_ids}"

    # The λ params, value by value (full strings; the display truncates them).
    for name in ("lambda_w", "lambda_l", "seed", "method", "holdout"):
        assert _table_row(driver, name) == [child.data.params[name] for child in children], name
    lambda_w = [float(v) for v in _table_row(driver, "lambda_w")]
    assert all(v > 0 for v in lambda_w) and len(set(lambda_w)) == 2  # 2 proposals (x 2 seeds, + completion)

    # The per-corpus UA metrics and the final test UA (names read off the virtualised metric table).
    grid = MetricGrid(driver)
    rows = grid.rows()
    expected = {f"{split}_ua/{corpus}" for split in ("train", "valid") for corpus in corpora}
    expected |= {"test_ua", "mean_valid_ua"} | {f"weight/{corpus}" for corpus in corpora}
    assert expected <= set(rows), f"metrics missing from the compare view: {sorted(expected - set(rows))}"
    shown = grid.row_values(rows["test_ua"])
    assert len(shown) == len(children)
    finished = 0
    for child, text in zip(children, shown, strict=True):
        value = child.data.metrics.get("test_ua")
        if value is None or math.isnan(value):
            continue
        finished += 1
        assert float(text) == pytest.approx(value, abs=6e-4), (child.info.run_id, text, value)
    assert finished, "no trial with a final test_ua"
    shown = grid.row_values(rows[f"valid_ua/{corpora[0]}"])
    assert [float(t) for t in shown] == pytest.approx(
        [child.data.metrics[f"valid_ua/{corpora[0]}"] for child in children], abs=6e-4)

    # Screenshot for docs/: the assistant panel closed, the metric table on the per-corpus UA rows, whole view.
    for close in driver.find_elements(By.CSS_SELECTOR, "button[data-component-id='mlflow.assistant.chat_panel.close']"):
        close.click()
    grid.scroll_to(rows[f"train_ua/{corpora[0]}"])
    height = driver.execute_script(
        "const grid = arguments[0].getBoundingClientRect();"
        "const main = document.querySelector('main');"
        "return grid.bottom + (main ? main.scrollTop : 0) + 80;", grid.values)
    chrome_extra = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(WINDOW_WIDTH, int(height) + int(chrome_extra))
    driver.execute_script("const main = document.querySelector('main'); if (main) main.scrollTop = 0;")
    grid.scroll_to(rows[f"train_ua/{corpora[0]}"])
    shot = tmp_path / "mlflow-compare.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)  # only once everything above held
