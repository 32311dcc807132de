#!/usr/bin/python3
"""Browser checks of the quickstart, as a reader would see it:

1. Run All in the classic Notebook (Debian's jupyter-notebook) driven by
   headless Chromium through Selenium: every cell runs, no cell shows an
   error, and the plots are on the page. A full-page screenshot is kept in
   .cache/test-artifacts/quickstart-run-all.png.
2. The executed notebook converted with nbconvert to HTML, opened with
   JavaScript disabled: the plots are still there (they are static SVG).
   Screenshot: .cache/test-artifacts/quickstart-nbconvert-nojs.png.
3. The same for every teaching notebook test_notebooks.py executed:
   .cache/test-artifacts/NN-name-nbconvert-nojs.png.

Quick mode, sharing the finished runs of test_notebooks.py when it ran first.
Run: /usr/bin/python3 -m unittest -v test_browser (from notebooks/).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(ROOT, ".cache", "test-artifacts")
RUNS = os.path.join(ROOT, ".cache", "test-runs")
NOTEBOOK = "00-quickstart.ipynb"

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover
    webdriver = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chrome(javascript=True):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    # The flags this workplace's probe uses: no sandbox as root, and no
    # background networking (its connections are refused here).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="gopeft-chromium-"))
    if not javascript:
        opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def full_page_screenshot(driver, path):
    try:
        height = driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight,"
            " (document.getElementById('site') || document.body).scrollHeight)")
        # The classic notebook scrolls inside #site; unroll it for the screenshot.
        driver.execute_script("var s = document.getElementById('site'); if (s) { s.style.height = 'auto'; s.style.overflow = 'visible'; }")
    except Exception:  # scripts disabled: guess a tall page
        height = 9000
    driver.set_window_size(1400, min(max(int(height) + 200, 1000), 16000))
    time.sleep(0.5)
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(path)


@unittest.skipIf(webdriver is None, "needs Selenium (Debian python3-selenium)")
@unittest.skipUnless(os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver"), "needs Debian chromium and chromium-driver")
class BrowserTest(unittest.TestCase):
    def test_run_all_in_classic_notebook(self):
        work = tempfile.mkdtemp(prefix="gopeft-nb-")
        shutil.copy(os.path.join(ROOT, "notebooks", NOTEBOOK), work)
        port = free_port()
        env = dict(os.environ, GOPEFT_QUICK="1", GOPEFT_RUNS=RUNS)
        server = subprocess.Popen(
            ["/usr/bin/jupyter-notebook", "--no-browser", "--allow-root", "--port=%d" % port, "--ip=127.0.0.1",
             "--NotebookApp.token=", "--NotebookApp.password=", "--notebook-dir=" + work],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        driver = None
        try:
            for _ in range(60):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            driver = chrome()
            driver.get("http://127.0.0.1:%d/notebooks/%s" % (port, NOTEBOOK))
            ready = "return !!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected())"
            deadline = time.time() + 120
            while not driver.execute_script(ready):
                self.assertLess(time.time(), deadline, "the notebook page never connected to the gopeft kernel")
                time.sleep(0.5)
            self.assertEqual(driver.execute_script("return Jupyter.notebook.kernel.name"), "gopeft")
            driver.execute_script("Jupyter.notebook.clear_all_output(); Jupyter.notebook.execute_all_cells();")
            done = ("return Jupyter.notebook.get_cells().every(function (c) {"
                    " return c.cell_type !== 'code' || (typeof c.input_prompt_number === 'number'); })"
                    " && Jupyter.notebook.kernel_busy === false")
            deadline = time.time() + 600
            while not driver.execute_script(done):
                self.assertLess(time.time(), deadline, "Run All did not finish within 10 minutes")
                time.sleep(1)
            time.sleep(1)
            errors = driver.execute_script("return document.querySelectorAll('.output_error').length")
            svgs = driver.execute_script("return document.querySelectorAll('.output_area svg').length")
            tables = driver.execute_script("return document.querySelectorAll('.output_area table').length")
            full_page_screenshot(driver, os.path.join(ARTIFACTS, "quickstart-run-all.png"))
            self.assertEqual(errors, 0, "a cell shows an error after Run All")
            self.assertGreaterEqual(svgs, 5, "plots missing after Run All")
            self.assertGreaterEqual(tables, 3, "summary and results tables missing")
        finally:
            if driver:
                driver.quit()
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
            shutil.rmtree(work, ignore_errors=True)

    def test_nbconvert_html_without_javascript(self):
        executed = os.path.join(ARTIFACTS, "00-quickstart.executed.ipynb")
        if not os.path.exists(executed):
            self.skipTest("run test_notebooks first: it writes the executed notebook")
        out = tempfile.mkdtemp(prefix="gopeft-html-")
        subprocess.run(["/usr/bin/jupyter", "nbconvert", "--to", "html", executed, "--output-dir", out],
                       check=True, capture_output=True, timeout=300)
        html = os.path.join(out, "00-quickstart.executed.html")
        driver = chrome(javascript=False)
        try:
            driver.get("file://" + html)
            svgs = len(driver.find_elements("css selector", "svg"))
            full_page_screenshot(driver, os.path.join(ARTIFACTS, "quickstart-nbconvert-nojs.png"))
            self.assertGreaterEqual(svgs, 5, "nbconvert's HTML lacks the plots with JavaScript off")
        finally:
            driver.quit()

    def test_every_teaching_notebook_renders_without_javascript(self):
        """Each teaching notebook's executed artefact (test_notebooks.py), as nbconvert HTML with JavaScript
        off: its plots are on the page; a full-page screenshot per notebook is kept."""
        names = sorted(f[:-len(".ipynb")] for f in os.listdir(os.path.join(ROOT, "notebooks"))
                       if f.endswith(".ipynb") and f[:2].isdigit() and not f.startswith("00-"))
        missing = [n for n in names if not os.path.exists(os.path.join(ARTIFACTS, n + ".executed.ipynb"))]
        if len(missing) == len(names):
            self.skipTest("run test_notebooks first: it writes the executed notebooks")
        self.assertEqual(missing, [], "test_notebooks did not leave these executed notebooks")
        out = tempfile.mkdtemp(prefix="gopeft-html-")
        driver = chrome(javascript=False)
        try:
            for name in names:
                executed = os.path.join(ARTIFACTS, name + ".executed.ipynb")
                subprocess.run(["/usr/bin/jupyter", "nbconvert", "--to", "html", executed, "--output-dir", out],
                               check=True, capture_output=True, timeout=300)
                driver.get("file://" + os.path.join(out, name + ".executed.html"))
                svgs = len(driver.find_elements("css selector", "svg"))
                full_page_screenshot(driver, os.path.join(ARTIFACTS, name + "-nbconvert-nojs.png"))
                self.assertTrue(driver.find_elements("css selector", "h1"), "%s: the page shows no title" % name)
                with open(executed) as f:
                    nb = json.load(f)
                # 09 shows files and numbers, no plot; a notebook with saved widget state (10) renders its
                # views from that state with the widgets' JavaScript, so with JavaScript off they stay empty.
                has_svg = "<svg" in json.dumps(nb)
                if has_svg and "widgets" not in nb.get("metadata", {}):
                    self.assertGreaterEqual(svgs, 1, "%s: nbconvert's HTML shows no plot with JavaScript off" % name)
        finally:
            driver.quit()
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
