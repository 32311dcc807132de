#!/usr/bin/python3
"""Runs the teaching notebooks top to bottom with the gopeft kernel (quick mode)
and checks what a reader sees: no errors, the plots, and accuracies clearly
above the majority baseline. Also re-runs the training cell and checks that it
loads the finished runs in seconds.

Run with Debian's Jupyter stack: /usr/bin/python3 -m unittest -v test_notebooks
(from notebooks/). Needs the gopeft kernelspec (./install.sh installs it).
The executed notebook is kept in .cache/test-artifacts/.
"""
import os
import re
import shutil
import subprocess
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(ROOT, ".cache", "test-artifacts")
# Shared with test_browser.py so the browser run loads these finished runs.
RUNS = os.path.join(ROOT, ".cache", "test-runs")
KERNEL = os.environ.get("GOPEFT_KERNEL_NAME", "gopeft")
MARGIN = 0.05  # "clearly above": at least 5 points over the majority class

try:
    import nbformat
    from nbclient import NotebookClient
except ImportError:  # pragma: no cover
    nbformat = None


def kernel_installed():
    try:
        out = subprocess.run(["/usr/bin/jupyter", "kernelspec", "list"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(r"^\s*%s\s" % re.escape(KERNEL), out, re.M) is not None


def text_of(cell):
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream")


@unittest.skipIf(nbformat is None, "needs nbclient and nbformat (Debian python3-nbclient)")
@unittest.skipUnless(kernel_installed(), "the gopeft kernelspec is not installed: run ./install.sh or gopeft kernel install")
class QuickstartTest(unittest.TestCase):
    def test_quickstart(self):
        os.environ["GOPEFT_QUICK"] = "1"
        os.environ["GOPEFT_RUNS"] = RUNS
        shutil.rmtree(RUNS, ignore_errors=True)
        path = os.path.join(ROOT, "notebooks", "00-quickstart.ipynb")
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=900, allow_errors=False,
                                resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
        train_index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "runs()" in c.source and "test accuracy" in c.source)
        started = time.time()
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            first = time.time() - started
            # A re-run of the training cell loads the finished runs.
            rerun_cell = nbformat.from_dict(dict(nb.cells[train_index]))
            t0 = time.time()
            client.execute_cell(rerun_cell, train_index)
            rerun = time.time() - t0
        os.makedirs(ARTIFACTS, exist_ok=True)
        nbformat.write(nb, os.path.join(ARTIFACTS, "00-quickstart.executed.ipynb"))
        print("\nquickstart: %.0f s top to bottom, training cell re-run %.1f s" % (first, rerun))

        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                self.assertNotEqual(out["output_type"], "error", "cell %d failed: %s" % (i, out.get("evalue")))
                if out["output_type"] == "stream" and out["name"] == "stderr":
                    self.fail("cell %d wrote to stderr: %s" % (i, "".join(out["text"])[:500]))
        # Behaviour, not time: both runs came from their run directories.
        rerun_text = text_of(rerun_cell)
        self.assertEqual(rerun_text.count("loaded the finished run"), 2, rerun_text)
        self.assertEqual(rerun_text.count("loaded from"), 2)
        self.assertNotIn(": false)", rerun_text, "a re-run trained again instead of loading")

        svgs = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {}))
        self.assertGreaterEqual(svgs, 4, "expected the learning curves, the heatmap and the memory plot as SVG")
        html = "".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
        self.assertIn("<svg", html)
        self.assertNotIn("<script", html, "outputs must render without JavaScript")

        out = "".join(text_of(c) for c in nb.cells)
        baseline = float(re.search(r"majority baseline: ([0-9.]+)", out).group(1))
        accs = dict((m.group(1), float(m.group(2))) for m in re.finditer(r"test accuracy (\w+): ([0-9.]+)", out))
        self.assertEqual(set(accs), {"houlsby", "mam"})
        for name, acc in accs.items():
            print("%s: test accuracy %.3f, majority baseline %.3f" % (name, acc, baseline))
            self.assertGreaterEqual(acc, baseline + MARGIN, "%s is not clearly above the majority baseline" % name)


if __name__ == "__main__":
    unittest.main()
