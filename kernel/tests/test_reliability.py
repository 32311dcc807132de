"""Reliability and security tests for the gopeft kernel (issue 18): what a
class of students does to a kernel (exhausting memory, exiting, looping,
forking, flooding stdout, running hundreds of cells) must leave it usable
with a clear message; and the kernel binds only where told, rejects
unsigned, mis-signed and replayed messages, keeps its files private and
never logs its key.

Run: cd kernel/tests && /usr/bin/python3 -m unittest -v test_reliability
(run.sh runs it with the other suites). About 2-4 minutes on 2 cores.
"""

import json
import os
import re
import signal
import socket
import stat
import tempfile
import time
import unittest

from kernelenv import KERNEL_NAME, missing
from test_protocol import (TIMEOUT, descendants, is_zombie, kernel_pid, proc_table, run_cell, stdout_of,
                           work_dir_of)

SKIP = missing()
N_LEAK = int(os.environ.get("GOPEFT_TEST_LEAK_EXECUTIONS", "200"))
# The test kernel's memory limit: small, so the test does not take the
# machine's memory, but enough for go build.
TEST_MEMORY = "1GiB"


def start_kernel(**env):
    from jupyter_client.manager import start_new_kernel
    e = dict(os.environ)
    e.update(env)
    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=TIMEOUT, env=e)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not is_zombie(pid)


def wait_dead(pids, timeout=10):
    """The pids still alive after timeout (generous: detects a leak, not a delay)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def pids_printed(msgs):
    return [int(p) for p in re.findall(r"child=(\d+)", stdout_of(msgs))]


def status_of(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def listening(pid):
    """(address, port) of the TCP sockets pid listens on, from its fds and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    out = []
    for table, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = cols[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if v6:
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, raw)
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            out.append((addr, int(hexport, 16)))
    return out


def shell_replies(kc, msg_id, seconds):
    """Replies to msg_id on shell within seconds."""
    got = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            r = kc.get_shell_msg(timeout=0.5)
        except Exception:
            continue
        if r["parent_header"].get("msg_id") == msg_id:
            got.append(r)
    return got


FORK = '''%%
cmd := exec.Command("sleep", "1000")
cmd.Start()
// A daemon: own session, so neither process group nor parent tie it to the cell.
d := exec.Command("sleep", "1001")
d.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
d.Start()
fmt.Printf("child=%d child=%d\\n", cmd.Process.Pid, d.Process.Pid)
'''


@unittest.skipIf(SKIP, SKIP)
class FaultTests(unittest.TestCase):
    """One kernel under a 1 GiB memory limit takes every fault in turn."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_kernel(GOPEFT_CELL_MEMORY=TEST_MEMORY)
        run_cell(cls.kc, '%%\nfmt.Println("warm")')

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def assert_usable(self):
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("still usable")')
        self.assertEqual(reply["status"], "ok", reply)
        self.assertIn("still usable", stdout_of(msgs))

    def test_memory_exhaustion(self):
        # Without the limit this cell would take 4 GiB and print "no limit".
        code = ('%%\nvar keep [][]byte\nfor i := 0; i < 64; i++ {\n\tb := make([]byte, 64<<20)\n'
                '\tfor j := 0; j < len(b); j += 4096 {\n\t\tb[j] = 1\n\t}\n\tkeep = append(keep, b)\n}\n'
                'fmt.Println("no limit", len(keep))')
        reply, msgs = run_cell(self.kc, code)
        self.assertEqual(reply["status"], "error", reply)
        self.assertEqual(reply["ename"], "FatalError")
        self.assertIn("1.0 GiB", reply["evalue"])
        self.assertIn("GOPEFT_CELL_MEMORY", reply["evalue"])
        self.assertNotIn("no limit", stdout_of(msgs))
        sys_stderr = "".join(m["content"]["text"] for m in msgs
                             if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertNotIn("goroutine ", sys_stderr, "the runtime's dump reached stderr")
        self.assert_usable()

    def test_oom_killer_prefers_cells(self):
        # Past every per-process limit (several processes, a 2 GB cgroup),
        # the OOM killer should take a cell, not the kernel or Jupyter.
        pid = kernel_pid(self.km)
        reply, msgs = run_cell(self.kc, '%%\nb, _ := os.ReadFile("/proc/self/oom_score_adj")\nfmt.Printf("adj=%s", b)')
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(stdout_of(msgs).strip(), "adj=500")
        with open("/proc/self/oom_score_adj") as f:
            ours = f.read().strip()
        with open("/proc/%d/oom_score_adj" % pid) as f:
            self.assertEqual(f.read().strip(), ours, "the kernel's own score changed")

    def test_os_exit_zero_mid_cell(self):
        # os.Exit with a failing status is test_protocol's test_exit_status_is_error;
        # exiting 0 early ends the cell as a success, output kept.
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("before")\nos.Exit(0)\nfmt.Println("after")')
        self.assertEqual(reply["status"], "ok", reply)
        self.assertIn("before", stdout_of(msgs))
        self.assertNotIn("after", stdout_of(msgs))
        self.assert_usable()

    def test_forked_children_do_not_outlive_cell(self):
        reply, msgs = run_cell(self.kc, FORK)
        self.assertEqual(reply["status"], "ok", reply)
        kids = pids_printed(msgs)
        self.assertEqual(len(kids), 2, msgs)
        self.assertEqual(wait_dead(kids), [], "children outlived their cell")
        stderr = "".join(m["content"]["text"] for m in msgs
                         if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertIn("[gopeft: the cell left 2 processes (sleep, sleep) running; stopped", stderr)
        self.assert_usable()

    def test_forked_children_do_not_outlive_interrupt(self):
        code = FORK + 'for {\n\ttime.Sleep(time.Second)\n}\n'
        started = []

        def on_output(m):
            if m["msg_type"] == "stream" and "child=" in m["content"].get("text", "") and not started:
                started.append(pids_printed([m]))
                self.km.interrupt_kernel()

        reply, msgs = run_cell(self.kc, code, on_output=on_output)
        self.assertTrue(started, msgs)
        self.assertEqual(reply.get("ename"), "KeyboardInterrupt", reply)
        self.assertEqual(wait_dead(started[0]), [], "children outlived the interrupt")
        self.assert_usable()

    def test_infinite_loop_interrupted(self):
        # A loop that never yields to a timer or a channel.
        got = []

        def on_output(m):
            if m["msg_type"] == "stream" and "looping" in m["content"].get("text", "") and not got:
                got.append(1)
                self.km.interrupt_kernel()

        reply, _ = run_cell(self.kc, '%%\nfmt.Println("looping")\nn := 0\nfor {\n\tn++\n}', on_output=on_output)
        self.assertTrue(got)
        self.assertEqual(reply.get("ename"), "KeyboardInterrupt", reply)
        self.assert_usable()

    def test_100mb_stdout(self):
        code = ('%%\nline := strings.Repeat("x", 1023) + "\\n"\nw := bufio.NewWriterSize(os.Stdout, 1<<16)\n'
                'for i := 0; i < 100<<10; i++ {\n\tw.WriteString(line)\n}\nw.Flush()\nfmt.Println("done")')
        msg_id = self.kc.execute(code)
        text, notices, answered = [], [], []
        deadline = time.time() + TIMEOUT * 2
        info_id = None
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream":
                if m["content"]["name"] == "stdout":
                    text.append(m["content"]["text"])
                elif "gopeft" in m["content"]["text"]:
                    notices.append(m["content"]["text"])
                if info_id is None and sum(map(len, text)) > 0:
                    # While the cell floods, the kernel still answers.
                    info_id = self.kc.kernel_info()
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        replies = {}
        while len(replies) < 2:
            r = self.kc.get_shell_msg(timeout=TIMEOUT)
            replies[r["parent_header"].get("msg_id")] = r
        self.assertEqual(replies[msg_id]["content"]["status"], "ok")
        self.assertEqual(replies[info_id]["msg_type"], "kernel_info_reply")
        total = sum(map(len, text))
        self.assertLessEqual(total, 2 << 20, "the notebook got %d bytes" % total)
        self.assertGreater(total, 1 << 20)
        self.assertEqual(len(notices), 2, notices)
        self.assertIn("GOPEFT_CELL_OUTPUT_LIMIT", notices[0])
        self.assertRegex(notices[1], r"9[78]\.\d MiB of output dropped")
        self.assert_usable()

    def test_zz_many_executions_leak_nothing(self):
        # Named to run last in this class: it measures the kernel after the faults.
        pid = kernel_pid(self.km)
        work = work_dir_of(pid)
        self.assertTrue(work)

        table = proc_table()
        gonb = [p for p in descendants(pid) if "--kernel" in table.get(p, (0, ""))[1]]
        self.assertEqual(len(gonb), 1, [table.get(p) for p in descendants(pid)])
        gonb = gonb[0]

        def snapshot():
            time.sleep(0.5)
            entries = sorted(os.path.relpath(os.path.join(d, n), work)
                             for d, dirs, files in os.walk(work) for n in dirs + files)
            return (set(descendants(pid)), len(os.listdir("/proc/%d/fd" % pid)), status_of(pid, "VmRSS"), entries,
                    len(os.listdir("/proc/%d/fd" % gonb)))

        run_cell(self.kc, '%%\nfmt.Println("tick")')
        procs0, fds0, rss0, files0, gfds0 = snapshot()
        for i in range(N_LEAK):
            reply, _ = run_cell(self.kc, '%%\nfmt.Println("tick")')
            self.assertEqual(reply["status"], "ok", i)
        procs1, fds1, rss1, files1, gfds1 = snapshot()
        table = proc_table()
        self.assertEqual(procs1 - procs0, set(), [table.get(p) for p in procs1 - procs0])
        self.assertLessEqual(fds1, fds0, "kernel fds %d -> %d after %d cells" % (fds0, fds1, N_LEAK))
        self.assertEqual(sorted(set(files1) - set(files0)), [], "work dir grew")
        # RSS: GC noise, not growth per cell (a leak of 64 KiB a cell would show 12 MiB).
        self.assertLess(rss1 - rss0, 10 << 10, "kernel RSS %d kB -> %d kB" % (rss0, rss1))
        # GoNB too: its stuck display pipes held an fd each (and a goroutine).
        self.assertLessEqual(gfds1, gfds0, "GoNB fds %d -> %d after %d cells" % (gfds0, gfds1, N_LEAK))


@unittest.skipIf(SKIP, SKIP)
class RestartTests(unittest.TestCase):
    def test_children_do_not_outlive_restart(self):
        km, kc = start_kernel()
        try:
            started = []

            def on_output(m):
                if m["msg_type"] == "stream" and "child=" in m["content"].get("text", ""):
                    started.extend(pids_printed([m]))
                    km.restart_kernel(now=False)

            msg_id = kc.execute(FORK + 'for {\n\ttime.Sleep(time.Second)\n}\n')
            deadline = time.time() + TIMEOUT
            while not started and time.time() < deadline:
                m = kc.get_iopub_msg(timeout=TIMEOUT)
                if m["parent_header"].get("msg_id") == msg_id:
                    on_output(m)
            self.assertEqual(len(started), 2)
            self.assertEqual(wait_dead(started), [], "children outlived the restart")
            kc.wait_for_ready(timeout=TIMEOUT)
            reply, msgs = run_cell(kc, '%%\nfmt.Println("after restart")')
            self.assertEqual(reply["status"], "ok")
        finally:
            kc.stop_channels()
            km.shutdown_kernel()


@unittest.skipIf(SKIP, SKIP)
class SecurityTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log = tempfile.NamedTemporaryFile(prefix="gopeft-kernel-log-", suffix=".txt", delete=False)
        from jupyter_client.manager import KernelManager
        cls.km = KernelManager(kernel_name=KERNEL_NAME)
        # The most verbose logging there is: the key must not appear even so.
        env = dict(os.environ, GOPEFT_KERNEL_DEBUG="3")
        cls.km.start_kernel(env=env, stdout=cls.log, stderr=cls.log)
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        cls.kc.wait_for_ready(timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()
        cls.log.close()
        os.unlink(cls.log.name)

    def test_binds_only_where_told(self):
        self.assertEqual(self.km.ip, "127.0.0.1")
        pid = kernel_pid(self.km)
        ci = self.km.get_connection_info()
        ports = {ci[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")}
        socks = listening(pid)
        self.assertTrue(ports <= {p for _, p in socks}, (ports, socks))
        for p in [pid] + descendants(pid):
            for addr, port in listening(p):
                self.assertEqual(addr, "127.0.0.1", "process %d listens on %s:%d" % (p, addr, port))

    def _send_raw(self, session, msg):
        frames = session.serialize(msg)
        self.kc.shell_channel.socket.send_multipart(frames)
        return frames

    def _execute_msg(self, session, marker):
        return session.msg("execute_request", {"code": '%%%%\nfmt.Println("%s")' % marker, "silent": False,
                                               "store_history": True, "user_expressions": {},
                                               "allow_stdin": False, "stop_on_error": True})

    def test_unsigned_rejected(self):
        from jupyter_client.session import Session
        unsigned = Session(key=b"", username="intruder")
        msg = self._execute_msg(unsigned, "UNSIGNED")
        frames = unsigned.serialize(msg)
        self.assertEqual(frames[frames.index(b"<IDS|MSG>") + 1], b"")
        self.kc.shell_channel.socket.send_multipart(frames)
        self.assertEqual(shell_replies(self.kc, msg["header"]["msg_id"], 4), [], "answered an unsigned message")
        reply, msgs = run_cell(self.kc, '%%\nfmt.Println("signed")')
        self.assertEqual(reply["status"], "ok")

    def test_mis_signed_rejected(self):
        from jupyter_client.session import Session
        bad = Session(key=b"not-the-key", username="intruder")
        msg = self._execute_msg(bad, "MISSIGNED")
        self._send_raw(bad, msg)
        self.assertEqual(shell_replies(self.kc, msg["header"]["msg_id"], 4), [], "answered a mis-signed message")

    def test_replay_rejected(self):
        # Frames captured off the wire and sent again run once.
        msg = self._execute_msg(self.kc.session, "REPLAYED")
        frames = self._send_raw(self.kc.session, msg)
        first = shell_replies(self.kc, msg["header"]["msg_id"], 0)
        deadline = time.time() + TIMEOUT
        while not first and time.time() < deadline:
            first = shell_replies(self.kc, msg["header"]["msg_id"], 1)
        self.assertEqual(len(first), 1)
        self.assertEqual(first[0]["content"]["status"], "ok")
        self.kc.shell_channel.socket.send_multipart(frames)
        self.assertEqual(shell_replies(self.kc, msg["header"]["msg_id"], 4), [], "a replayed message ran again")
        reply, _ = run_cell(self.kc, '%%\nfmt.Println("after replay")')
        self.assertEqual(reply["status"], "ok")

    def test_work_dir_private(self):
        pid = kernel_pid(self.km)
        work = work_dir_of(pid)
        self.assertTrue(work and os.path.isdir(work))
        self.assertEqual(stat.S_IMODE(os.stat(work).st_mode), 0o700, work)
        for name in os.listdir(work):
            path = os.path.join(work, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if os.path.isdir(path):
                self.assertEqual(mode & 0o077, 0, "%s is %o" % (path, mode))
            elif name.endswith(".json"):  # GoNB's connection file holds the key
                self.assertEqual(mode, 0o600, "%s is %o" % (path, mode))

    def test_key_stays_in_kernel(self):
        # GoNB gets a key of its own: the client's is in no file of the work
        # dir and in no engine process's command line or environment.
        key = self.km.session.key
        pid = kernel_pid(self.km)
        work = work_dir_of(pid)
        for d, _, files in os.walk(work):
            for n in files:
                path = os.path.join(d, n)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # GoNB's fifos
                try:
                    with open(path, "rb") as f:
                        self.assertNotIn(key, f.read(), path)
                except PermissionError:
                    pass
        for p in descendants(pid):
            for what in ("cmdline", "environ"):
                try:
                    with open("/proc/%d/%s" % (p, what), "rb") as f:
                        self.assertNotIn(key, f.read(), "process %d %s" % (p, what))
                except OSError:
                    pass

    def test_zz_key_never_logged(self):
        # After the other tests: the log has the drops, cells and errors.
        run_cell(self.kc, '%%\npanic("logged?")')
        self.km.interrupt_kernel()
        run_cell(self.kc, '%%\nfmt.Println("x")')
        key = self.km.session.key.decode()
        self.assertTrue(key)
        self.log.flush()
        with open(self.log.name) as f:
            text = f.read()
        self.assertIn("gopeft", text, "the kernel log is empty: test is not looking at it")
        self.assertIn("dropping message", text)
        self.assertNotIn(key, text)
        # Nor any long part of it (a truncated or split key).
        for i in range(0, len(key) - 12):
            self.assertNotIn(key[i:i + 12], text)


@unittest.skipIf(SKIP, SKIP)
class TransportTests(unittest.TestCase):
    def test_binds_to_the_given_interface(self):
        # A non-loopback address of this machine: the kernel listens there
        # and nowhere else (not 0.0.0.0, not also 127.0.0.1).
        from jupyter_client.localinterfaces import public_ips
        from jupyter_client.manager import KernelManager
        ips = [ip for ip in public_ips() if ":" not in ip]
        if not ips:
            self.skipTest("no non-loopback IPv4 address on this machine")
        km = KernelManager(kernel_name=KERNEL_NAME, ip=ips[0])
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=TIMEOUT)
            ci = km.get_connection_info()
            self.assertEqual(ci["ip"], ips[0])
            ports = {ci[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")}
            socks = listening(kernel_pid(km))
            self.assertEqual(sorted(socks), sorted((ips[0], p) for p in ports))
            reply, msgs = run_cell(kc, '%%\nfmt.Println("over " + ' + json.dumps(ips[0]) + ')')
            self.assertEqual(reply["status"], "ok", reply)
            self.assertIn("over " + ips[0], stdout_of(msgs))
        finally:
            kc.stop_channels()
            km.shutdown_kernel()

    def test_ipc_transport(self):
        from jupyter_client.manager import KernelManager
        tmp = tempfile.mkdtemp(prefix="gopeft-ipc-")
        km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=os.path.join(tmp, "kernel"))
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=TIMEOUT)
            reply, msgs = run_cell(kc, '%%\nfmt.Println("over ipc")')
            self.assertEqual(reply["status"], "ok")
            self.assertIn("over ipc", stdout_of(msgs))
            ci = km.get_connection_info()
            for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
                self.assertTrue(os.path.exists("%s-%d" % (ci["ip"], ci[k])), k)
            # No TCP socket for clients: the only listener is GoNB's private loopback one.
            self.assertEqual(listening(kernel_pid(km)), [])
        finally:
            kc.stop_channels()
            km.shutdown_kernel()
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
