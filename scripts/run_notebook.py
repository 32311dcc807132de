#!/usr/bin/python3
"""Runs a notebook top to bottom with the gopeft kernel and shows its progress
in the terminal: which cell of how many is running, the training progress bar
(the text/plain twin of widgets.Progress), what cells print, and a heartbeat
at least every 10 seconds. Then it writes the executed notebook and an HTML
export, and records the outcome for `gopeft doctor`.

    /usr/bin/python3 scripts/run_notebook.py NOTEBOOK [--out DIR] [--kernel NAME]
        [--record FILE] [--timeout SECONDS]

Needs Debian's Jupyter stack (python3-nbclient, jupyter-nbconvert). Exit
status: 0 when every cell ran, 1 when one failed (the error is printed), 2 on
bad arguments.
"""
import argparse
import asyncio
import datetime
import json
import os
import re
import sys
import tempfile
import time

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
except ImportError:  # pragma: no cover
    sys.exit("run_notebook.py needs Debian's Jupyter stack: apt-get install python3-nbclient jupyter-nbconvert "
             "(and run it with /usr/bin/python3)")

HEARTBEAT = 5.0  # seconds of silence before a "still running" line (the promise is <= 10 s)
PROGRESS_EVERY = 3.0  # at most one progress-bar line per this many seconds, except the last


def default_record():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gopeft", "mainjob.json")


def clock(seconds):
    s = int(seconds)
    return "%d:%02d" % (s // 60, s % 60)


def summary_of(source):
    """The first line of a cell that says something (no imports, braces, %% or comments)."""
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith(("//", "import", ")", "(", "%%", "}", '"')):
            return line[:70]
    return source.strip().splitlines()[0][:70] if source.strip() else "(empty)"


class Printer:
    """Prints progress lines; every line resets the heartbeat."""

    def __init__(self, out):
        self.out = out
        self.last = time.monotonic()
        self.start = self.last
        self.cell = ""

    def line(self, text):
        self.out.write("%s %s\n" % (clock(time.monotonic() - self.start), text))
        self.out.flush()
        self.last = time.monotonic()


class ProgressClient(NotebookClient):
    """An nbclient that echoes outputs as they arrive."""

    def __init__(self, nb, printer, **kw):
        super().__init__(nb, **kw)
        self.printer = printer
        self.last_bar = {}  # display id -> (time printed, text)
        self.last_echo = ""

    def process_message(self, msg, cell, cell_index):
        msg_type = msg["msg_type"]
        content = msg.get("content", {})
        if msg_type in ("display_data", "update_display_data"):
            text = content.get("data", {}).get("text/plain", "")
            if text and text.strip():
                self.echo_display(content.get("transient", {}).get("display_id"), text.strip())
        elif msg_type == "stream":
            for line in content.get("text", "").splitlines():
                if line.strip():
                    self.printer.line("  %s %s" % ("!" if content.get("name") == "stderr" else "|", line.rstrip()))
        elif msg_type == "error":
            self.printer.line("  error: %s" % content.get("evalue", ""))
        return super().process_message(msg, cell, cell_index)

    def echo_display(self, display_id, text):
        # Progress bars redraw often: print one line every few seconds, and the
        # final state (100% or an ordinary display) always.
        now = time.monotonic()
        first = text.splitlines()[0]
        if display_id:
            printed, previous = self.last_bar.get(display_id, (0.0, ""))
            final = "100%" in first
            if first == previous or (now - printed < PROGRESS_EVERY and not final):
                return
            self.last_bar[display_id] = (now, first)
        elif not re.search(r"\d+/\d+", first) or first == self.last_echo:
            return  # a plot or table's text twin, or a bar's final copy of what was just shown
        self.last_echo = first
        self.printer.line("  > " + first)


async def heartbeat(printer, stop):
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass
        if time.monotonic() - printer.last >= HEARTBEAT and not stop.is_set():
            printer.line("  ... %s still running" % printer.cell)


def write_atomic(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def results_of(nb):
    """The lines of the notebook's own summary (accuracies, version, backend)."""
    text = "".join("".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    return [l for l in text.splitlines() if re.match(r"(test accuracy \w+:|majority baseline:|GoPEFT \S+, backend)", l)]


async def run(args, printer):
    nb = nbformat.read(args.notebook, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    client = ProgressClient(nb, printer, kernel_name=args.kernel, timeout=args.timeout, allow_errors=False,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}})
    stop = asyncio.Event()
    beat = asyncio.ensure_future(heartbeat(printer, stop))
    failed = None
    try:
        async with client.async_setup_kernel():
            printer.line("kernel %s started; %d code cells" % (args.kernel, len(code)))
            for k, index in enumerate(code, 1):
                cell = nb.cells[index]
                printer.cell = "cell %d/%d" % (k, len(code))
                printer.line("[%s] %s" % (printer.cell, summary_of(cell.source)))
                t0 = time.monotonic()
                try:
                    await client.async_execute_cell(cell, index)
                except CellExecutionError as e:
                    failed = "cell %d/%d failed: %s" % (k, len(code), str(e).strip().splitlines()[-1] if str(e).strip() else e)
                    break
                printer.line("[%s] done in %.1f s" % (printer.cell, time.monotonic() - t0))
    finally:
        stop.set()
        await beat
    return nb, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--out", default=os.path.join(".cache", "executed"), help="where the executed notebook and HTML go")
    ap.add_argument("--kernel", default=os.environ.get("GOPEFT_KERNEL_NAME", "gopeft"))
    ap.add_argument("--record", default=default_record(), help="outcome record read by gopeft doctor ('' for none)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take")
    args = ap.parse_args()
    if not os.path.isfile(args.notebook):
        ap.error("no notebook at %s" % args.notebook)

    printer = Printer(sys.stdout)
    started = time.time()
    nb, failed = asyncio.run(run(args, printer))
    seconds = time.time() - started

    os.makedirs(args.out, exist_ok=True)
    base = os.path.splitext(os.path.basename(args.notebook))[0]
    executed = os.path.abspath(os.path.join(args.out, base + ".ipynb"))
    write_atomic(executed, nbformat.writes(nb))
    html_path = os.path.abspath(os.path.join(args.out, base + ".html"))
    try:
        from nbconvert import HTMLExporter
        body, _ = HTMLExporter().from_notebook_node(nb)
        write_atomic(html_path, body)
    except Exception as e:  # the run itself still counts
        printer.line("could not export HTML: %s" % e)
        html_path = ""

    results = results_of(nb)
    if failed:
        printer.line("FAILED after %s: %s" % (clock(seconds), failed))
    else:
        printer.line("finished in %s" % clock(seconds))
        for line in results:
            printer.line("  " + line)
    printer.line("executed notebook: %s" % executed)
    if html_path:
        printer.line("open in a browser: %s" % html_path)
    if args.record:
        record = {"notebook": os.path.abspath(args.notebook), "ok": failed is None, "error": failed or "",
                  "seconds": round(seconds, 1), "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "quick": os.environ.get("GOPEFT_QUICK", "") not in ("", "0"), "results": results,
                  "executed": executed, "html": html_path}
        write_atomic(args.record, json.dumps(record, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
