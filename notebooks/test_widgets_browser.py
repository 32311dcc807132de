#!/usr/bin/python3
"""Interactive controls in a real browser: headless Chromium drives Debian's
classic Notebook (jupyter-notebook 6.4, widgets extension 6.0.0) with the
gopeft kernel. A cell shows an AdapterDrop slider over a live view
(notebook.AdapterDropView); the test moves the slider and sees the
trainable-parameter count and the layer diagram (hatched, dropped adapter
markers) follow, then clicks Done and the cell ends; after a save and reload, the page
re-attaches to the kernel's models and shows the reader's value. Twice: at the server
root, and under a JupyterHub-style base URL (--NotebookApp.base_url=
/user/student/), where GoNB's own widgets (a websocket from injected
JavaScript) break and comms do not. Screenshots are kept in
.cache/test-artifacts/widgets-adapterdrop{,-reloaded,-base-url}.png.

Uses the gopeft kernelspec found on JUPYTER_PATH (kernel/tests/run.sh's
GOPEFT_BIN way, or the installed one).
Run: /usr/bin/python3 -m unittest -v test_widgets_browser (from notebooks/).
About 1 minute on 2 cores once the cell's packages are in the build cache.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from test_browser import ARTIFACTS, chrome, free_port, full_page_screenshot, webdriver

CELL = """import (
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/widgets"
	"github.com/gopeft/gopeft/widgets/notebook"
)

%%
cfg, err := notebook.ShippedConfig()
if err != nil {
	panic(err)
}
setup := peft.NewSetup("houlsby", peft.Houlsby())
n := widgets.IntSlider("drop", 0, 0, cfg.NumLayers)
widgets.Interact(func(v widgets.Values) string { return notebook.AdapterDropView(cfg, setup, v.Int("drop")) }, n)
fmt.Println("AdapterDrop n =", n.Int())
"""

# The live view's numbers, read from the page.
VIEW = """
var p = document.querySelector('.widget-area [data-trainable]');
if (!p) return null;
var svg = p.parentNode.querySelector('svg');
return {trainable: parseInt(p.getAttribute('data-trainable')), text: p.textContent,
        dropped: svg ? svg.querySelectorAll('.site.dropped').length : -1,
        sites: svg ? svg.querySelectorAll('.site').length : -1};
"""


def notebook_json():
    return {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": CELL}],
            "metadata": {"kernelspec": {"display_name": "GoPEFT", "language": "go", "name": "gopeft"}},
            "nbformat": 4, "nbformat_minor": 5}


@unittest.skipIf(webdriver is None, "needs Selenium (Debian python3-selenium)")
@unittest.skipUnless(os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver"),
                     "needs Debian chromium and chromium-driver")
class WidgetsBrowserTest(unittest.TestCase):
    def drive(self, base_url, shot, reload=False):
        work = tempfile.mkdtemp(prefix="gopeft-widgets-nb-")
        with open(os.path.join(work, "drop.ipynb"), "w") as f:
            json.dump(notebook_json(), f)
        port = free_port()
        args = ["/usr/bin/jupyter-notebook", "--no-browser", "--allow-root", "--port=%d" % port, "--ip=127.0.0.1",
                "--NotebookApp.token=", "--NotebookApp.password=", "--notebook-dir=" + work]
        if base_url != "/":
            args.append("--NotebookApp.base_url=" + base_url)
        log = open(os.path.join(work, "server.log"), "w")
        server = subprocess.Popen(args, env=dict(os.environ, GOPEFT_HISTORY_FILE="off"), stdout=log, stderr=log,
                                  start_new_session=True)
        driver = None
        try:
            for _ in range(60):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            driver = chrome()
            driver.get("http://127.0.0.1:%d%snotebooks/drop.ipynb" % (port, base_url))
            ready = ("return !!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
                     " && Jupyter.notebook.kernel.is_connected())")
            self.wait(driver, ready, 120, "the notebook page never connected to the gopeft kernel")
            self.assertEqual(driver.execute_script("return Jupyter.notebook.kernel.name"), "gopeft")
            driver.execute_script("Jupyter.notebook.execute_cells([0]);")
            self.wait(driver, "return document.querySelector('.widget-area .ui-slider-handle') !== null"
                              " && document.querySelector('.widget-area [data-trainable]') !== null",
                      300, "the slider and its view never appeared")
            before = driver.execute_script(VIEW)
            self.assertEqual(before["dropped"], 0, before)
            self.assertGreater(before["sites"], 0, before)
            # Move the slider as a reader would: focus its handle, two steps right.
            handle = driver.find_element("css selector", ".widget-area .ui-slider-handle")
            handle.click()
            from selenium.webdriver.common.keys import Keys
            handle.send_keys(Keys.ARROW_RIGHT)
            handle.send_keys(Keys.ARROW_RIGHT)
            changed = "var v = (function(){%s})(); return v && v.trainable !== %d" % (VIEW, before["trainable"])
            self.wait(driver, changed, 60, "the trainable-parameter count did not follow the slider")
            time.sleep(0.5)
            after = driver.execute_script(VIEW)
            readout = driver.execute_script(
                "var r = document.querySelector('.widget-area .widget-readout'); return r ? r.textContent : ''")
            n = int(readout.strip() or "0")
            self.assertGreater(n, 0, readout)
            self.assertIn("AdapterDrop n = %d:" % n, after["text"])
            self.assertLess(after["trainable"], before["trainable"])
            self.assertEqual(before["sites"], after["sites"])
            # Houlsby has two sites a layer: the n lowest layers' are dropped.
            self.assertEqual(after["dropped"], 2 * n, after)
            full_page_screenshot(driver, os.path.join(ARTIFACTS, shot))
            # Done ends the cell; it reads the value the reader chose.
            buttons = driver.find_elements("css selector", ".widget-area button")
            done = [b for b in buttons if b.text.strip() == "Done"]
            self.assertTrue(done, [b.text for b in buttons])
            done[0].click()
            self.wait(driver, "return typeof Jupyter.notebook.get_cell(0).input_prompt_number === 'number'"
                              " && Jupyter.notebook.kernel_busy === false", 60, "the cell did not end after Done")
            out = driver.execute_script("return Jupyter.notebook.get_cell(0).output_area.outputs")
            text = "".join(o.get("text", "") for o in out if o.get("output_type") == "stream")
            self.assertIn("AdapterDrop n = %d" % n, text)
            errors = driver.execute_script("return document.querySelectorAll('.output_error').length")
            self.assertEqual(errors, 0)
            if reload:
                # The models live in the kernel: a reloaded page re-attaches
                # (comm_info, request_state) and shows the slider where the
                # reader left it, and the last view.
                driver.execute_script("Jupyter.notebook.save_notebook();")
                self.wait(driver, "return Jupyter.notebook.dirty === false", 30, "the notebook did not save")
                driver.refresh()
                self.wait(driver, ready, 120, "the reloaded page never connected to the kernel")
                self.wait(driver, "var r = document.querySelector('.widget-area .widget-readout');"
                                  " return r !== null && r.textContent.trim() === '%d'" % n, 60,
                          "the reloaded page does not show the slider at the reader's value")
                again = driver.execute_script(VIEW)
                self.assertEqual(again and again["trainable"], after["trainable"])
                full_page_screenshot(driver, os.path.join(ARTIFACTS, shot.replace(".png", "-reloaded.png")))
        except Exception:
            if driver:
                full_page_screenshot(driver, os.path.join(ARTIFACTS, "failed-" + shot))
            log.flush()
            with open(os.path.join(work, "server.log")) as f:
                print(f.read()[-4000:])
            raise
        finally:
            if driver:
                driver.quit()
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
            log.close()
            shutil.rmtree(work, ignore_errors=True)

    def wait(self, driver, script, timeout, why):
        deadline = time.time() + timeout
        while not driver.execute_script(script):
            self.assertLess(time.time(), deadline, why)
            time.sleep(0.5)

    def test_slider_at_root(self):
        self.drive("/", "widgets-adapterdrop.png", reload=True)

    def test_slider_under_base_url(self):
        self.drive("/user/student/", "widgets-adapterdrop-base-url.png")


if __name__ == "__main__":
    unittest.main()
