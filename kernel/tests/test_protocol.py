"""Protocol tests for the gopeft kernel beyond the conformance suite: failing
cells, interrupts, restart/shutdown clean-up, signatures, process leaks,
nbconvert and jupyter console.

Run: cd kernel/tests && /usr/bin/python3 -m unittest -v test_protocol
Takes about 1-3 minutes on 2 cores (100 executions of a cached trivial cell,
several kernel starts). GOPEFT_TEST_EXECUTIONS changes the 100.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from kernelenv import KERNEL_NAME, missing

SKIP = missing()
TIMEOUT = int(os.environ.get("GOPEFT_TEST_TIMEOUT", "120"))
N_EXEC = int(os.environ.get("GOPEFT_TEST_EXECUTIONS", "100"))


def proc_table():
    """pid -> (ppid, cmdline) for every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(d)] = (ppid, cmd)
    return table


def descendants(pid):
    table = proc_table()
    out = []
    for p in table:
        q, n = p, 0
        while q > 1 and n < 64:
            q = table.get(q, (0, ""))[0]
            n += 1
            if q == pid:
                out.append(p)
                break
    return out


def work_dir_of(kernel_pid):
    """The engine's temp dir, from GoNB's command line."""
    table = proc_table()
    for p in descendants(kernel_pid):
        m = re.search(r"(/\S*/gopeft-kernel-\d+)/", table.get(p, (0, ""))[1])
        if m:
            return m.group(1)
    return None


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2:].split()[0] == "Z"


def processes_using(path):
    return [p for p, (_, cmd) in proc_table().items() if path in cmd]


def kernel_pid(km):
    return km.provisioner.process.pid


def run_cell(kc, code, timeout=TIMEOUT, on_output=None):
    """Executes code; returns (reply content, iopub messages of the cell)."""
    msg_id = kc.execute(code)
    msgs = []
    deadline = time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
        msgs.append(m)
        if on_output:
            on_output(m)
    while True:
        r = kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
        if r["parent_header"].get("msg_id") == msg_id:
            return r["content"], msgs


def stdout_of(msgs):
    return "".join(m["content"]["text"] for m in msgs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


@unittest.skipIf(SKIP, SKIP)
class ProtocolTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from jupyter_client.manager import start_new_kernel
        cls.km, cls.kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=TIMEOUT)
        # Warm the build cache so timings below measure the kernel, not go build.
        run_cell(cls.kc, '%%\nfmt.Println("warm")')

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def test_panic_is_error(self):
        reply, msgs = run_cell(self.kc, '%%\nvar s []int\n_ = s[3]')
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "panic")
        self.assertIn("index out of range", reply["evalue"])
        errs = [m for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0]["content"]["traceback"], reply["traceback"])
        self.assertTrue(any(re.search(r"main\.main\(\)\n\tCell\[\d+\] line 3$", t) for t in reply["traceback"]),
                        reply["traceback"])
        # The panic is reported once, as the error: no raw goroutine dump on
        # stderr, no temp paths anywhere.
        stderr = "".join(m["content"]["text"] for m in msgs
                         if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertNotIn("goroutine", stderr)
        self.assertNotIn("index out of range", stderr)
        self.assertNotIn("gopeft-kernel-", json.dumps([m["content"] for m in msgs]) + json.dumps(reply))

    def test_exit_status_is_error(self):
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("before")\nos.Exit(3)')
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "ExitError")
        self.assertIn("status 3", reply["evalue"])
        self.assertIn("before", stdout_of(msgs))

    def test_ok_cell_after_error(self):
        run_cell(self.kc, '%%\npanic("x")')
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("still fine")')
        self.assertEqual(reply["status"], "ok")
        self.assertIn("still fine", stdout_of(msgs))

    def test_compile_error_is_error(self):
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println(1)\nundefinedThing()')
        self.assertEqual(reply["status"], "error")
        # The compiler's message, mapped to the cell's line, in the error
        # itself (nbconvert and CI print it), not the go build command line.
        self.assertEqual(reply["ename"], "CompileError")
        self.assertRegex(reply["evalue"], r"^Cell\[\d+\] line 3: undefined: undefinedThing$")
        self.assertTrue(any("\tundefinedThing()" in t for t in reply["traceback"]), reply["traceback"])
        errs = [m for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0]["content"]["evalue"], reply["evalue"])
        # GoNB's HTML report has a text/plain form.
        plain = [m["content"]["data"].get("text/plain", "") for m in msgs if m["msg_type"] == "display_data"]
        self.assertTrue(any(re.search(r"Cell\[\d+\] line 3: undefined: undefinedThing", p) for p in plain), plain)
        self.assertNotIn("gopeft-kernel-", json.dumps([m["content"] for m in msgs]) + json.dumps(reply))

    def test_execution_count(self):
        # Only stored cells take a number: silent and store_history=False
        # cells leave it, and say the last one.
        def count(**kw):
            msg_id = self.kc.execute('%%\nfmt.Println("n")', **kw)
            while True:
                r = self.kc.get_shell_msg(timeout=TIMEOUT)
                if r["parent_header"].get("msg_id") == msg_id:
                    self.assertEqual(r["content"]["status"], "ok")
                    return r["content"]["execution_count"]
        n = count()
        self.assertEqual(count(silent=True), n)
        self.assertEqual(count(store_history=False), n)
        self.assertEqual(count(), n + 1)

    def _interrupt_cell(self, code, how):
        started = []

        def on_output(m):
            if m["msg_type"] == "stream" and "started" in m["content"].get("text", "") and not started:
                started.append(time.time())
                if how == "message":
                    self.km.interrupt_kernel()
                else:
                    os.kill(kernel_pid(self.km), signal.SIGINT)

        reply, msgs = run_cell(self.kc, code, on_output=on_output)
        self.assertTrue(started, "cell never printed 'started': %r" % msgs)
        elapsed = time.time() - started[0]
        self.assertLess(elapsed, 2.0, "interrupt took %.2fs" % elapsed)
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("after interrupt")')
        self.assertEqual(reply["status"], "ok")
        self.assertIn("after interrupt", stdout_of(msgs))
        return elapsed

    def test_interrupt_message(self):
        # interrupt_mode is "message": interrupt_request on the control channel.
        self._interrupt_cell('%%\nfmt.Println("started")\nfor {\n\ttime.Sleep(10 * time.Millisecond)\n}', "message")

    def test_interrupt_training_loop_ignoring_sigint(self):
        # A busy loop that ignores SIGINT still stops: the kernel kills it.
        code = ('%%\nsignal.Ignore(os.Interrupt)\nfmt.Println("started")\nx := 0.0\n'
                'for i := 0; ; i++ {\n\tx += math.Sqrt(float64(i))\n}')
        self._interrupt_cell(code, "message")

    def test_interrupt_sigint(self):
        self._interrupt_cell('%%\nfmt.Println("started")\nselect {}', "signal")

    def test_interrupt_aborts_queued_cells(self):
        # Interrupting Run All stops it: the cells queued behind the running
        # one are aborted even with stop_on_error off; a cell sent later runs.
        a = self.kc.execute('%%\nfmt.Println("started")\nselect {}', stop_on_error=False)
        b = self.kc.execute('%%\nfmt.Println("queued")')
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if (m["parent_header"].get("msg_id") == a and m["msg_type"] == "stream"
                    and "started" in m["content"]["text"]):
                break
        self.km.interrupt_kernel()
        replies = {}
        while len(replies) < 2 and time.time() < deadline:
            r = self.kc.get_shell_msg(timeout=TIMEOUT)
            if r["parent_header"].get("msg_id") in (a, b):
                replies[r["parent_header"]["msg_id"]] = r["content"]
        self.assertEqual(replies[a].get("ename"), "KeyboardInterrupt")
        self.assertEqual(replies[b]["status"], "aborted")
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("after")')
        self.assertEqual(reply["status"], "ok")
        self.assertIn("after", stdout_of(msgs))

    def test_run_all_stops_at_error(self):
        # The notebook's Run All queues every cell at once: after the failing
        # cell, the queued ones are aborted, not run.
        ids = [self.kc.execute(code) for code in (
            '%%\nfmt.Println("one")', '%%\npanic("two")', '%%\nfmt.Println("three")')]
        replies = {}
        deadline = time.time() + TIMEOUT
        while len(replies) < 3 and time.time() < deadline:
            r = self.kc.get_shell_msg(timeout=TIMEOUT)
            if r["parent_header"].get("msg_id") in ids:
                replies[r["parent_header"]["msg_id"]] = r["content"]["status"]
        self.assertEqual([replies.get(i) for i in ids], ["ok", "error", "aborted"])
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("runs again")')
        self.assertEqual(reply["status"], "ok")

    def test_cell_sent_right_after_error_runs(self):
        # A cell sent as soon as the error reply arrives is not aborted.
        for _ in range(5):
            bad = self.kc.execute('%%\npanic("x")')
            while self.kc.get_shell_msg(timeout=TIMEOUT)["parent_header"].get("msg_id") != bad:
                pass
            good = self.kc.execute('%%\nfmt.Println("next")')
            while True:
                r = self.kc.get_shell_msg(timeout=TIMEOUT)
                if r["parent_header"].get("msg_id") == good:
                    break
            self.assertEqual(r["content"]["status"], "ok")

    def test_stdin_input_request_routed(self):
        # GoNB asks for input on its stdin socket; the kernel routes it to the
        # client that sent the cell and the reply back.
        msg_id = self.kc.execute('%with_inputs\n!read x && echo hello $x', allow_stdin=True)
        req = self.kc.get_stdin_msg(timeout=TIMEOUT)
        self.assertEqual(req["msg_type"], "input_request")
        self.assertEqual(req["parent_header"]["msg_id"], msg_id)
        self.kc.input("gopher")
        out = []
        while True:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
            out.append(m)
        self.assertIn("hello gopher", stdout_of(out))
        while self.kc.get_shell_msg(timeout=TIMEOUT)["parent_header"].get("msg_id") != msg_id:
            pass

    def test_is_complete_answered(self):
        for code, want in [("func f() {", "incomplete"), ("%%\nfmt.Println(1)", "complete"), ("func f() }", "invalid")]:
            msg_id = self.kc.is_complete(code)
            r = self.kc.get_shell_msg(timeout=10)
            self.assertEqual(r["parent_header"]["msg_id"], msg_id)
            self.assertEqual(r["content"]["status"], want, code)

    def test_comm_info_and_comm_close(self):
        msg = self.kc.session.msg("comm_info_request", {})
        self.kc.shell_channel.send(msg)
        r = self.kc.get_shell_msg(timeout=10)
        self.assertEqual(r["msg_type"], "comm_info_reply")
        self.assertEqual(r["content"]["status"], "ok")
        close = self.kc.session.msg("comm_close", {"comm_id": "no-such-comm", "data": {}})
        self.kc.shell_channel.send(close)
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("alive")')
        self.assertEqual(reply["status"], "ok")

    def test_mis_signed_message_dropped(self):
        from jupyter_client.session import Session
        bad = Session(key=b"not-the-key", username="intruder")
        msg = bad.msg("execute_request", {"code": '%%\nfmt.Println("INTRUDER")', "silent": False,
                                          "store_history": True, "user_expressions": {},
                                          "allow_stdin": False, "stop_on_error": True})
        bad.send(self.kc.shell_channel.socket, msg)
        deadline = time.time() + 4
        while time.time() < deadline:
            try:
                r = self.kc.get_shell_msg(timeout=0.5)
            except Exception:
                continue
            self.assertNotEqual(r["parent_header"].get("msg_id"), msg["header"]["msg_id"],
                                "kernel answered a mis-signed message")
        # The connection still works for correctly signed messages.
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("signed")')
        self.assertEqual(reply["status"], "ok")
        self.assertNotIn("INTRUDER", stdout_of(msgs))

    def test_backend_magic(self):
        reply, msgs = run_cell(self.kc, "%backend")
        self.assertEqual(reply["status"], "ok")
        results = [m for m in msgs if m["msg_type"] == "execute_result"]
        self.assertEqual(len(results), 1)
        self.assertIn("backend: ", results[0]["content"]["data"]["text/plain"])

    def test_many_executions_no_leak(self):
        pid = kernel_pid(self.km)
        time.sleep(0.5)
        before = set(descendants(pid))
        t0 = time.time()
        for i in range(N_EXEC):
            reply, msgs = run_cell(self.kc, '%%\nfmt.Println("tick")')
            self.assertEqual(reply["status"], "ok", i)
        took = time.time() - t0
        time.sleep(0.5)
        after = set(descendants(pid))
        table = proc_table()
        self.assertLessEqual(after - before, set(),
                             "processes left after %d cells: %r" % (N_EXEC, [table.get(p) for p in after - before]))
        sys.stderr.write("\n%d executions in %.1fs (%.2fs each) ... " % (N_EXEC, took, took / N_EXEC))


@unittest.skipIf(SKIP, SKIP)
class LifecycleTests(unittest.TestCase):
    def test_restart_and_shutdown_leave_nothing(self):
        from jupyter_client.manager import start_new_kernel
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=TIMEOUT)
        try:
            reply, msgs = run_cell(kc, 'var counter = 1\n%%\nfmt.Println("first", counter)')
            self.assertEqual(reply["status"], "ok")
            pid1 = kernel_pid(km)
            work1 = work_dir_of(pid1)
            self.assertTrue(work1 and os.path.isdir(work1), "no engine work dir under kernel %d" % pid1)
            tree1 = descendants(pid1)
            self.assertTrue(tree1)

            km.restart_kernel(now=False)
            kc.wait_for_ready(timeout=TIMEOUT)
            time.sleep(0.5)
            self.assertFalse(os.path.exists(work1), "restart left %s behind" % work1)
            table = proc_table()
            alive = [(p, table.get(p)) for p in tree1 + [pid1] if p in table and not is_zombie(p)]
            self.assertEqual(alive, [], "restart left processes: %r" % alive)
            self.assertEqual(processes_using(work1), [])

            reply, msgs = run_cell(kc, '%%\nfmt.Println("after restart")')
            self.assertEqual(reply["status"], "ok")
            self.assertIn("after restart", stdout_of(msgs))
            pid2 = kernel_pid(km)
            work2 = work_dir_of(pid2)
            tree2 = descendants(pid2)
        finally:
            kc.stop_channels()
            km.shutdown_kernel()
        time.sleep(0.5)
        self.assertFalse(work2 and os.path.exists(work2), "shutdown left %s behind" % work2)
        table = proc_table()
        alive = [(p, table.get(p)) for p in tree2 + [pid2] if p in table and not is_zombie(p)]
        self.assertEqual(alive, [], "shutdown left processes: %r" % alive)


@unittest.skipIf(SKIP, SKIP)
class ToolTests(unittest.TestCase):
    def test_nbconvert_stops_at_failing_cell(self):
        nbformat = __import__("nbformat")
        tmp = tempfile.mkdtemp(prefix="gopeft-nb-")
        try:
            marker = os.path.join(tmp, "after-failure")
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "GoPEFT (Go)", "language": "go"}
            nb.cells = [
                nbformat.v4.new_code_cell('%%\nfmt.Println("cell one")'),
                nbformat.v4.new_code_cell('%%\npanic("teacher wants Run-All to stop here")'),
                nbformat.v4.new_code_cell('%%\nos.WriteFile(%s, nil, 0o644)' % json.dumps(marker)),
            ]
            path = os.path.join(tmp, "fails.ipynb")
            nbformat.write(nb, path)
            p = subprocess.run(["/usr/bin/jupyter", "nbconvert", "--to", "notebook", "--execute",
                                "--ExecutePreprocessor.timeout=%d" % TIMEOUT,
                                "--output", os.path.join(tmp, "out.ipynb"), path],
                               capture_output=True, text=True, timeout=TIMEOUT * 3)
            self.assertNotEqual(p.returncode, 0, p.stderr[-2000:])
            self.assertIn("teacher wants Run-All to stop here", p.stderr + p.stdout)
            self.assertFalse(os.path.exists(marker), "the cell after the failing one ran")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_jupyter_console_session(self):
        try:
            import pexpect
        except ImportError:
            self.skipTest("python3-pexpect is not installed")
        env = dict(os.environ, TERM="dumb")
        child = pexpect.spawn("/usr/bin/jupyter", ["console", "--kernel", KERNEL_NAME, "--simple-prompt"],
                              env=env, encoding="utf-8", timeout=TIMEOUT)
        try:
            child.expect(r"In \[1\]: ")
            child.sendline('func main() { fmt.Println("from console", 6*7) }')
            child.expect("from console 42")
            child.expect(r"In \[2\]: ")
            child.sendline("%backend")
            child.expect(r"Out\[2\]:\s+backend: ")
            child.expect(r"In \[3\]: ")
            # --simple-prompt reads one line per cell; multi-line input and
            # is_complete are covered by ProtocolTests.test_is_complete_answered.
            child.sendeof()
            if child.expect([r"exit \(\[y\]/n\)\?", pexpect.EOF]) == 0:
                child.sendline("y")
                child.expect(pexpect.EOF)
        finally:
            child.close(force=True)


if __name__ == "__main__":
    unittest.main()
