"""The tuning panel, the upload box and the HTML report, driven in a real browser.

The other tests drive the widgets from Python; here a headless Chromium (Debian's ``chromium``
and ``chromium-driver``, installed by ``.ci/run``) does what a user does, through Selenium:

- JupyterLab (from ``requirements.txt``) serves a temporary folder on a loopback port with a
  token. Its kernels see the session's smoke run (``smoke_run``) through a private copy of its
  results folder, so the notebooks read the sweep and the cached models back instead of
  training them, and write nothing into the folder the other notebook tests check.
- Notebook 04 runs with the smoke profile; the test moves the dropout and learning-rate sliders
  and the epoch slider, presses **Train**, counts the curve's redraws and reads the result.
- Notebook 06's upload box receives a generated WAV through the browser's file input.
- ``outputs/report.html`` of the smoke run is opened from disk: every image loads, the headline
  table fits 1280 px without scrolling sideways, and the page logs no JavaScript error.

Screenshots go to each test's temporary folder. Without a Chromium, its driver, Selenium or
JupyterLab the tests are skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import write_clip
from notebook_support import PROJECT_ROOT

from helpers import config

WINDOW = (1280, 900)  # the width the report must fit
PANEL_EPOCHS = 3  # epochs the browser trains the panel for (early stopping needs 4 or more)
NOTEBOOK_TIMEOUT_S = 150
TRAIN_TIMEOUT_S = 120


# ----------------------------------------------------------------------------------------------
# The browser and the server
# ----------------------------------------------------------------------------------------------


def _find_browser() -> tuple[str, str]:
    """Chromium's and its driver's paths; skip (with the reason) when either is missing."""
    missing = [name for name in ("selenium", "jupyterlab") if _not_importable(name)]
    if missing:
        pytest.skip(f"browser tests need {', '.join(missing)} (pip install -r requirements.txt)")
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                   "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("browser tests need Chromium and its driver (Debian: apt-get install "
                    f"chromium chromium-driver); found browser={browser}, driver={driver}")
    return browser, driver


def _not_importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium at 1280 × 900 that keeps the page's console log."""
    binary, driver_path = _find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_window_size(*WINDOW)
    try:
        yield driver
    finally:
        driver.quit()


def _private_outputs(smoke_outputs: Path, root: Path) -> Path:
    """A results folder for the browser's kernels, seeded from the smoke run's.

    The small results (metrics, tables, Optuna studies) are copied, so that what the notebooks
    rewrite stays here; the feature and model caches are linked (read back, and written only
    for a model the smoke run did not train).
    """
    outputs = root / "outputs"
    for folder in ("metrics", "tables", "optuna"):
        shutil.copytree(smoke_outputs / folder, outputs / folder)
    (outputs / "models").mkdir(parents=True)
    (outputs / "cache").symlink_to(smoke_outputs / "cache", target_is_directory=True)
    (outputs / "models" / "cache").symlink_to(smoke_outputs / "models" / "cache",
                                              target_is_directory=True)
    return outputs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab: ``url(path)`` gives a page's address with the token."""

    def __init__(self, root: Path, outputs: Path, env: dict):
        self.root, self.outputs = root / "lab", outputs
        self.root.mkdir()
        self.port, self.token = _free_port(), secrets.token_hex(16)
        home = root / "jupyter"
        env = {**env, "SER_OUTPUTS_DIR": str(outputs), "SER_PROJECT_ROOT": str(PROJECT_ROOT),
               "JUPYTER_CONFIG_DIR": str(home / "config"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
        # No "get notified about Jupyter news?" toast over the screenshots.
        labconfig = home / "config" / "labconfig"
        labconfig.mkdir(parents=True)
        (labconfig / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        self.log = (root / "jupyterlab.log").open("w")
        # expose_app_in_browser gives the page `window.jupyterapp`, to run commands the way
        # the menus do (Run > Run All Cells) without clicking through menus.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
             "--ServerApp.port_retries=0", "--allow-root",  # CI runs as root
             # Nothing from the network: no extension catalogue, no news feed.
             "--LabApp.extension_manager=readonly", "--LabApp.news_url="],
            env=env, cwd=self.root, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise AssertionError("JupyterLab did not start:\n"
                                         + (root / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)

    def url(self, path: str, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?{query}token={self.token}"

    def add_notebook(self, notebook: nbformat.NotebookNode, name: str) -> str:
        nbformat.write(notebook, self.root / name)
        return name

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def lab(smoke_run, browser, tmp_path_factory):
    """JupyterLab over a temporary folder, its kernels reading a copy of the smoke results."""
    smoke_run.ensure("06")
    root = tmp_path_factory.mktemp("browser_lab")
    server = Lab(root, _private_outputs(smoke_run.outputs, root), smoke_run.env)
    try:
        yield server
    finally:
        server.close()


def _parameterised(number: str, parameters: dict, *, keep=None) -> nbformat.NotebookNode:
    """Notebook ``number`` with ``parameters`` injected as papermill does (optionally only
    the cells ``keep(cell)`` accepts, plus the set-up and parameters cells)."""
    from papermill.parameterize import parameterize_notebook

    path = next((PROJECT_ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    notebook = nbformat.read(path, as_version=4)
    if keep is not None:
        notebook.cells = [cell for k, cell in enumerate(notebook.cells)
                          if k < 3 or "parameters" in cell.metadata.get("tags", ())
                          or keep(cell)]
    # parameterize_notebook expects the metadata papermill's own reader adds.
    notebook.metadata.setdefault("papermill", {})
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    return parameterize_notebook(notebook, parameters)


# ----------------------------------------------------------------------------------------------
# Driving JupyterLab
# ----------------------------------------------------------------------------------------------


def _wait(driver, condition, *, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition(driver)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


_NOTEBOOK_STATE = """
const app = window.jupyterapp;
const widget = app && app.shell.currentWidget;
if (!widget || !widget.sessionContext || !widget.content || !widget.content.widgets) return null;
const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
const cells = widget.content.widgets.filter(c => c.model.type === 'code');
const errors = Array.from(document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'))
    .concat(Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .filter(o => o.querySelector('.ansi-red-fg, .ansi-red-intense-fg')))
    .map(o => o.textContent.slice(-1500));
return {path: widget.context ? widget.context.path : null,
        kernel: kernel ? kernel.status : null,
        pending: cells.filter(c => c.model.executionCount === null).length,
        running: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
        errors: errors};
"""


def _run_notebook(driver, lab: Lab, name: str) -> None:
    """Open a notebook in JupyterLab and run every cell (Run > Run All Cells).

    Each notebook opens in a workspace of its own, reset: a notebook an earlier test opened
    would otherwise be restored beside it, and could be the one the command runs.
    """
    driver.get(lab.url(f"lab/workspaces/{Path(name).stem}/tree/{name}", "reset&"))
    _wait(driver, lambda d: (d.execute_script(_NOTEBOOK_STATE) or {}).get("path") == name
          and d.execute_script(_NOTEBOOK_STATE)["kernel"] == "idle",
          timeout=60, what=f"{name} to open with an idle kernel")
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished(d):
        state = d.execute_script(_NOTEBOOK_STATE) or {}
        if state.get("path") != name:
            raise AssertionError(f"JupyterLab switched from {name} to {state.get('path')}")
        if any("Traceback" in text or "Error" in text for text in state.get("errors", ())):
            raise AssertionError(f"{name} failed in the browser:\n" + "\n".join(state["errors"]))
        return (state.get("kernel") == "idle" and state.get("pending") == 0
                and state.get("running") == 0)

    _wait(driver, finished, timeout=NOTEBOOK_TIMEOUT_S, what=f"every cell of {name} to run")


def _press_keys(driver, element, *keys) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    element.click()
    ActionChains(driver).send_keys(*keys).perform()


def _slider(panel, description: str):
    """The slider widget whose label reads ``description``, and its handle and readout."""
    from selenium.webdriver.common.by import By

    for slider in panel.find_elements(By.CSS_SELECTOR, ".widget-slider"):
        if slider.find_element(By.CSS_SELECTOR, ".widget-label").text.strip() == description:
            return (slider.find_element(By.CSS_SELECTOR, ".noUi-handle"),
                    slider.find_element(By.CSS_SELECTOR, ".widget-readout"))
    raise AssertionError(f"no slider labelled {description!r} in the panel")


def _severe_log(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


# ----------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------


def test_tuning_panel_trains_with_the_sliders_values_and_redraws_every_epoch(
        browser, lab, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    name = lab.add_notebook(_parameterised("04", {"PROFILE": "smoke", "PANEL_MAX_ITEMS": 96,
                                                  "PANEL_TRIAL": False}), "04_tuning.ipynb")
    _run_notebook(browser, lab, name)
    # The panel is the box that holds the Train button (the widget manager rendered it).
    panel = _wait(browser, lambda d: d.execute_script(
        "const b = Array.from(document.querySelectorAll('.jp-OutputArea-output button'))"
        ".find(b => b.textContent.trim() === 'Train');"
        "return b ? b.closest('.widget-vbox') : null;"), timeout=30, what="the tuning panel")
    browser.execute_script("arguments[0].scrollIntoView()", panel)

    # Dropout: Home then 8 steps of 0.05; learning rate: End then 50 steps of 0.01 decades
    # (1e-2.5); epochs: Home then 2 steps. The keys move the handles as a drag does, through
    # the slider's own events.
    dropout_handle, dropout_readout = _slider(panel, "dropout")
    _press_keys(browser, dropout_handle, Keys.HOME, *[Keys.ARROW_RIGHT] * 8)
    rate_handle, rate_readout = _slider(panel, "learning rate")
    _press_keys(browser, rate_handle, Keys.END, *[Keys.ARROW_LEFT] * 50)
    epochs_handle, epochs_readout = _slider(panel, "epochs")
    _press_keys(browser, epochs_handle, Keys.HOME, *[Keys.ARROW_RIGHT] * (PANEL_EPOCHS - 1))
    shown = (dropout_readout.text, rate_readout.text, epochs_readout.text)
    assert shown == ("0.40", "3.16e-3", str(PANEL_EPOCHS)), shown

    # Count the images the plot's output area receives: one per redraw.
    plot = panel.find_element(By.CSS_SELECTOR, ".widget-output")
    browser.execute_script("""
        window.__redraws = 0;
        new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
            if (n.nodeType === 1 && (n.tagName === 'IMG' || n.querySelector('img')))
                window.__redraws += 1; })))
            .observe(arguments[0], {childList: true, subtree: true});""", plot)
    train = panel.find_element(By.XPATH, ".//button[normalize-space()='Train']")
    train.click()
    status = panel.find_elements(By.CSS_SELECTOR, ".widget-html")[0]
    _wait(browser, lambda d: "Done in" in status.text or "failed" in status.text,
          timeout=TRAIN_TIMEOUT_S, what="the panel's training to finish")
    browser.save_screenshot(str(tmp_path / "tuning_panel.png"))
    assert "Done in" in status.text, status.text

    redraws = browser.execute_script("return window.__redraws")
    assert redraws >= PANEL_EPOCHS, f"{redraws} redraws for {PANEL_EPOCHS} epochs"
    image = plot.find_element(By.CSS_SELECTOR, "img")
    assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    # The result line and the results table carry the values the sliders set.
    assert "dropout 0.40" in status.text and "learning rate 3.16e-03" in status.text, status.text
    results = panel.find_element(By.CSS_SELECTOR, "table")
    first_row = [cell.text for cell in results.find_elements(By.CSS_SELECTOR, "tbody tr")[0]
                 .find_elements(By.CSS_SELECTOR, "td")]
    assert first_row[:5] == ["your settings (subset, held-out part)", "original", "0.4",
                             "0.003162", str(PANEL_EPOCHS)], first_row
    assert not _severe_log(browser)


def test_upload_box_predicts_a_wav_sent_through_the_file_input(browser, lab, tmp_path):
    from selenium.webdriver.common.by import By

    notebook = _parameterised(
        "06", {"PROFILE": "smoke"},
        keep=lambda cell: "Predictor.load(" in cell.source or "upload_widget(" in cell.source)
    name = lab.add_notebook(notebook, "06_upload.ipynb")
    _run_notebook(browser, lab, name)
    upload = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-upload"),
                   timeout=30, what="the upload box")[0]
    browser.execute_script("arguments[0].scrollIntoView()", upload)
    clip = write_clip(tmp_path / "my recording.wav", sample_rate=16_000, duration_s=3.0)
    # The upload box's <input type=file> lives outside the page (ipywidgets keeps it detached
    # and clicks it when the button is pressed), and a headless browser shows no file dialog.
    # So the click on that input puts it into the page instead of opening the dialog, and the
    # driver then sets the file on it: the widget reads it as it reads a chosen file.
    browser.execute_script("""
        const click = HTMLInputElement.prototype.click;
        HTMLInputElement.prototype.click = function () {
            if (this.type !== 'file') return click.call(this);
            this.setAttribute('data-test', 'chooser');
            if (!this.isConnected) document.body.appendChild(this);
        };""")
    upload.click()
    chooser = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=chooser]"),
                    timeout=10, what="the upload box to open its file input")[0]
    assert "audio/*" in chooser.get_attribute("accept")
    chooser.send_keys(str(clip))

    rows = _wait(browser, lambda d: d.execute_script("""
        const table = Array.from(document.querySelectorAll('.widget-output table'))
            .find(t => t.querySelector('thead') && t.querySelector('thead').textContent.includes('emotion'));
        if (!table) return null;
        const headers = Array.from(table.querySelectorAll('thead tr:first-child th'))
            .map(th => th.textContent.trim());
        return Array.from(table.querySelectorAll('tbody tr')).map(tr => Object.fromEntries(
            Array.from(tr.children).map((cell, k) => [headers[k] || 'file', cell.textContent.trim()])));
        """), timeout=60, what="the upload's prediction")
    browser.save_screenshot(str(tmp_path / "upload_box.png"))
    assert len(rows) == 1 and rows[0]["file"] == "my recording.wav", rows
    assert rows[0]["emotion"] in config.EMOTIONS and rows[0]["gender"] in ("female", "male")
    assert "error" not in rows[0], rows
    # Every column fits the notebook's width: nothing needs scrolling sideways to be read.
    assert browser.execute_script("""
        const area = document.querySelector('.widget-output .jp-RenderedHTMLCommon');
        return area.scrollWidth <= area.clientWidth;""")
    assert (lab.outputs / "uploads" / "my recording.wav").read_bytes() == clip.read_bytes()
    assert browser.find_elements(By.CSS_SELECTOR, ".widget-output audio")
    assert upload.text.strip().endswith("(1)")  # the box counts the file it received
    assert not _severe_log(browser)


def test_report_loads_every_image_fits_1280_px_and_logs_no_error(browser, smoke_run, tmp_path):
    smoke_run.ensure("06")
    report = smoke_run.outputs / "report.html"
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(report.as_uri())
    _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete",
          timeout=30, what="the report to load")
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert len(images) == (smoke_run.outputs / "report.md").read_text().count("![") > 0
    assert [alt for alt, complete, width in images if not complete or width == 0] == []

    layout = browser.execute_script("""
        const h = Array.from(document.querySelectorAll('h2'))
            .find(h => h.textContent.startsWith('Headline'));
        let table = h.nextElementSibling;
        while (table && !table.querySelector('table') && table.tagName !== 'TABLE')
            table = table.nextElementSibling;
        table = table.tagName === 'TABLE' ? table : table.querySelector('table');
        const box = table.getBoundingClientRect();
        return {viewport: document.documentElement.clientWidth, left: box.left,
                right: box.right, page: document.documentElement.scrollWidth,
                tables: Array.from(document.querySelectorAll('table'))
                    .map(t => Math.round(t.getBoundingClientRect().right))};""")
    assert layout["viewport"] <= WINDOW[0]
    assert 0 <= layout["left"] and layout["right"] <= layout["viewport"], layout
    # No table widens the page: the reader never scrolls the whole report sideways.
    assert layout["page"] <= layout["viewport"], layout
    browser.save_screenshot(str(tmp_path / "report_top.png"))
    browser.execute_script(
        "Array.from(document.querySelectorAll('h2')).find(h => h.textContent.startsWith("
        "'Table 2')).scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "report_table2.png"))
    # Table 2 may scroll inside its own box, but its UAR column is in view without scrolling.
    uar = browser.execute_script("""
        const h = Array.from(document.querySelectorAll('h2'))
            .find(h => h.textContent.startsWith('Table 2'));
        let box = h.nextElementSibling;
        while (box && !box.querySelector('table')) box = box.nextElementSibling;
        const cell = Array.from(box.querySelectorAll('th')).find(th => th.textContent.trim() === 'uar');
        return {cell: cell.getBoundingClientRect().right, box: box.getBoundingClientRect().right};""")
    assert uar["cell"] <= min(uar["box"], layout["viewport"]), (uar, layout)
    assert _severe_log(browser) == []
