#!/usr/bin/python3
"""A class on one JupyterHub: N local users run the quickstart at once.

    scripts/test/class_hub.py [--users N] [--work DIR]

Needs root and Debian's jupyterhub package (apt-get install jupyterhub: the
hub, configurable-http-proxy, jupyterhub-singleuser). It

  1. builds gopeft from this checkout, copies its source to WORK/src (what
     cells build against) and installs the kernelspec once for every user:
     `gopeft kernel install --prefix WORK/prefix`, shown to every
     single-user server through JUPYTER_PATH (the machine's own
     /usr/local kernelspec is left alone); Go modules come from one
     read-only module cache (GOMODCACHE) that every user reads;
  2. makes local Unix users class00..classNN (homes 0700), each with their
     own copy of the data cache and the quickstart;
  3. starts a hub on 127.0.0.1 (DummyAuthenticator, LocalProcessSpawner,
     GOPEFT_QUICK=1) and drives it through its REST API with a service
     token: spawn each user's server, take a token for the user, start a
     gopeft kernel on the user's server and run every code cell over the
     kernel's websocket, as a browser would;
  4. runs class00 alone first (a cold Go build cache: its time is what a
     student's first run costs), copies that build cache into the others'
     homes (a teacher's warm-up), then runs class01..classNN at once;
  5. checks that every run finished with class00's accuracies, that each
     run directory is in its user's cache, owned by them, and that no user
     can read another's run directory or caches.

Prints a JSON report and exits non-zero if a check failed.
"""
import argparse
import asyncio
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOTEBOOK = os.path.join(REPO, "notebooks", "00-quickstart.ipynb")
ACC = re.compile(r"test accuracy (\w+): ([0-9.]+)")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work):
    """Build gopeft, install the kernelspec once for all, share the module cache."""
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    gopeft = os.path.join(work, "bin", "gopeft")
    os.makedirs(os.path.dirname(gopeft), exist_ok=True)
    sh("go", "build", "-o", gopeft, "./cmd/gopeft", cwd=REPO)
    # The cells build against a snapshot of the source, as against an
    # installed copy: edits to the checkout during a run change nothing.
    src = os.path.join(work, "src")
    shutil.rmtree(src, ignore_errors=True)
    files = sh("git", "ls-files", "-co", "--exclude-standard", cwd=REPO).split("\n")
    for f in filter(None, files):
        if os.path.isfile(os.path.join(REPO, f)):
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), os.path.join(src, f))
    prefix = os.path.join(work, "prefix")
    sh(gopeft, "kernel", "install", "--prefix", prefix, "--root", src)
    modcache = os.path.join(work, "gomodcache")
    if not os.path.exists(os.path.join(modcache, ".complete")):
        # The module cache's download dir serves as a proxy: no network.
        src = sh("go", "env", "GOMODCACHE").strip()
        env = dict(os.environ, GOMODCACHE=modcache, GOPROXY="file://" + src + "/cache/download",
                   GOSUMDB="off", GOFLAGS="-mod=mod")
        subprocess.run(["go", "mod", "download"], cwd=REPO, env=env, check=True)
        open(os.path.join(modcache, ".complete"), "w").close()
    # Read-only for everyone, as a system-wide install would be.
    subprocess.run(["chmod", "-R", "a+rX", work], check=True)
    datacache = os.path.expanduser("~/.cache/gopeft/data")  # root's, as `gopeft data fetch` left it
    return gopeft, os.path.join(prefix, "share", "jupyter"), modcache, datacache


def make_user(name, datacache):
    """A fresh student: home 0700, own data cache, own notebook, no runs."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        sh("useradd", "-m", "-s", "/bin/bash", name)
    pw = pwd.getpwnam(name)
    home = pw.pw_dir
    os.chmod(home, 0o700)
    for d in (".cache/gopeft/runs", "work", ".local/share/jupyter/runtime"):
        shutil.rmtree(os.path.join(home, d), ignore_errors=True)
    data = os.path.join(home, ".cache", "gopeft", "data")
    if not os.path.isdir(data):
        shutil.copytree(datacache, data)
    os.makedirs(os.path.join(home, "work"), exist_ok=True)
    shutil.copy(NOTEBOOK, os.path.join(home, "work", "00-quickstart.ipynb"))
    sh("chown", "-R", f"{name}:{name}", home)
    return pw


def hub_config(work, port, token, users, jupyter_path, modcache):
    hub = os.path.join(work, "hub")
    shutil.rmtree(hub, ignore_errors=True)
    os.makedirs(hub)
    cfg = f"""
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'
c.JupyterHub.db_url = 'sqlite:///{hub}/jupyterhub.sqlite'
c.JupyterHub.cookie_secret_file = '{hub}/cookie_secret'
c.JupyterHub.pid_file = '{hub}/jupyterhub.pid'
c.ConfigurableHTTPProxy.pid_file = '{hub}/proxy.pid'
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = 'dummy'
c.Authenticator.allowed_users = {set(users)!r}
c.JupyterHub.spawner_class = 'localprocess'
c.Spawner.notebook_dir = '~/work'
c.Spawner.disable_user_config = True
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
c.Spawner.environment = {{
    'JUPYTER_PATH': '{jupyter_path}',
    'GOMODCACHE': '{modcache}',
    'GOPEFT_QUICK': '1',
}}
c.JupyterHub.services = [{{'name': 'class-test', 'api_token': '{token}'}}]
c.JupyterHub.load_roles = [{{'name': 'class-test', 'services': ['class-test'],
    'scopes': ['admin:users', 'admin:servers', 'tokens', 'access:servers', 'read:users']}}]
"""
    path = os.path.join(hub, "jupyterhub_config.py")
    with open(path, "w") as f:
        f.write(cfg)
    return hub, path


class Hub:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def api(self, method, path, body=None, token=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "token " + (token or self.token)})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def wait_up(self, proc, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the hub exited (see its log)")
            try:
                code, _ = self.api("GET", "/hub/api/")
                if code == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the hub did not come up")

    def spawn(self, user, timeout=300):
        code, body = self.api("POST", f"/hub/api/users/{user}")
        if code not in (201, 409):
            raise RuntimeError(f"creating {user}: {code} {body}")
        code, body = self.api("POST", f"/hub/api/users/{user}/server")
        if code not in (201, 202, 400):
            raise RuntimeError(f"spawning {user}: {code} {body}")
        deadline = time.time() + timeout
        while time.time() < deadline:
            code, u = self.api("GET", f"/hub/api/users/{user}")
            if code == 200 and u.get("servers", {}).get("", {}).get("ready"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{user}'s server did not become ready")
        code, tok = self.api("POST", f"/hub/api/users/{user}/tokens", {"note": "class test", "expires_in": 7200})
        if code not in (200, 201):
            raise RuntimeError(f"token for {user}: {code} {tok}")
        return tok["token"]

    def stop(self, user):
        self.api("DELETE", f"/hub/api/users/{user}/server")


async def run_notebook(hub, user, token, cells, timeout=1800):
    """Start a gopeft kernel on user's server and run cells over its websocket."""
    base = f"/user/{user}/api"
    code, k = await asyncio.to_thread(hub.api, "POST", base + "/kernels", {"name": "gopeft"}, token)
    if code not in (200, 201):
        raise RuntimeError(f"{user}: starting a gopeft kernel: {code} {k}")
    ws_url = hub.base.replace("http://", "ws://") + f"{base}/kernels/{k['id']}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": "token " + token}))
    session = uuid.uuid4().hex
    texts, errors = [], []
    try:
        for i, src in cells:
            msg_id = uuid.uuid4().hex
            await conn.write_message(json.dumps({
                "header": {"msg_id": msg_id, "username": user, "session": session, "msg_type": "execute_request",
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": src, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            idle = reply = False
            while not (idle and reply):
                raw = await asyncio.wait_for(conn.read_message(), timeout)
                if raw is None:
                    raise RuntimeError(f"{user}: the kernel's websocket closed during cell {i}")
                m = json.loads(raw)
                if m.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                t, c = m["msg_type"], m["content"]
                if t == "stream":
                    texts.append(c["text"])
                elif t in ("execute_result", "display_data"):
                    texts.append(c["data"].get("text/plain", ""))
                elif t == "error":
                    errors.append(f"cell {i}: {c['ename']}: {c['evalue']}")
                elif t == "status" and c["execution_state"] == "idle":
                    idle = True
                elif t == "execute_reply":
                    reply = True
                    if c["status"] != "ok":
                        errors.append(f"cell {i}: status {c['status']}")
            if errors:
                break
    finally:
        conn.close()
        await asyncio.to_thread(hub.api, "DELETE", f"{base}/kernels/{k['id']}", None, token)
    out = "".join(texts)
    return {"accuracies": {m[0]: float(m[1]) for m in ACC.findall(out)}, "errors": errors,
            "trained": "loaded from" in out and ": false" in out}


async def run_users(hub, users, tokens, cells):
    async def one(u):
        start = time.time()
        try:
            r = await run_notebook(hub, u, tokens[u], cells)
        except Exception as e:  # report, do not hide the others' results
            r = {"accuracies": {}, "errors": [f"{type(e).__name__}: {e}"], "trained": False}
        r["seconds"] = round(time.time() - start, 1)
        return u, r
    return dict(await asyncio.gather(*(one(u) for u in users)))


def isolation(users):
    """Each user's run dirs are theirs; nobody reads another's caches."""
    problems = []
    for u in users:
        pw = pwd.getpwnam(u)
        runs = os.path.join(pw.pw_dir, ".cache", "gopeft", "runs")
        names = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
        if not names:
            problems.append(f"{u}: no run directories in {runs}")
        for n in names:
            if os.stat(os.path.join(runs, n)).st_uid != pw.pw_uid:
                problems.append(f"{u}: {runs}/{n} is not owned by {u}")
    for a in users:
        for b in users:
            if a == b:
                continue
            home = pwd.getpwnam(b).pw_dir
            for what in (".cache/gopeft/runs", ".cache/go-build", ".cache/gopeft/data", "work"):
                p = os.path.join(home, what)
                r = subprocess.run(["runuser", "-u", a, "--", "ls", p], capture_output=True)
                if r.returncode == 0:
                    problems.append(f"{a} can list {p}")
    # The kernels' temp dirs (gone once the kernels stopped) must be private.
    for d in os.listdir("/tmp"):
        p = os.path.join("/tmp", d)
        if d.startswith("gopeft-kernel-") and os.path.isdir(p):
            st = os.stat(p)
            owner = pwd.getpwuid(st.st_uid).pw_name
            if owner in users and st.st_mode & 0o077:
                problems.append(f"{p} of {owner} has mode {oct(st.st_mode & 0o777)}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=3, help="students running at once (besides class00 alone)")
    ap.add_argument("--work", default="/tmp/gopeft-class")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("class_hub: needs root (it creates local users)", file=sys.stderr)
        return 2
    for tool in ("jupyterhub", "configurable-http-proxy", "jupyterhub-singleuser"):
        if not shutil.which(tool):
            print(f"class_hub: {tool} is missing: apt-get install jupyterhub", file=sys.stderr)
            return 2
    t0 = time.time()
    gopeft, jupyter_path, modcache, datacache = prepare(args.work)
    if not os.path.isdir(datacache):
        print(f"class_hub: no data cache at {datacache}: run `gopeft data fetch` first", file=sys.stderr)
        return 2
    alone, students = "class00", [f"class{i:02d}" for i in range(1, args.users + 1)]
    for u in [alone] + students:
        make_user(u, datacache)
    # class00 starts cold: a first-time student's Go build cache.
    shutil.rmtree(os.path.join(pwd.getpwnam(alone).pw_dir, ".cache", "go-build"), ignore_errors=True)
    with open(NOTEBOOK) as f:
        nb = json.load(f)
    cells = [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    port, token = free_port(), secrets.token_hex(32)
    hubdir, cfg = hub_config(args.work, port, token, [alone] + students, jupyter_path, modcache)
    log = open(os.path.join(hubdir, "hub.log"), "w")
    # Debian's configurable-http-proxy finds its modules in /usr/share/nodejs;
    # a node from elsewhere (nodesource's, first on PATH) needs telling.
    env = dict(os.environ, NODE_PATH=":".join(filter(None, [os.environ.get("NODE_PATH"), "/usr/share/nodejs"])))
    proc = subprocess.Popen(["jupyterhub", "-f", cfg], cwd=hubdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    report = {"users": args.users, "setup_seconds": round(time.time() - t0, 1), "hub": f"http://127.0.0.1:{port}",
              "hub_log": log.name}
    ok = True
    try:
        hub = Hub(f"http://127.0.0.1:{port}", token)
        hub.wait_up(proc)
        start = time.time()
        tokens = {alone: hub.spawn(alone)}
        ref = asyncio.run(run_users(hub, [alone], tokens, cells))[alone]
        report["alone"] = dict(ref, wall_seconds=round(time.time() - start, 1), go_build_cache="cold")
        hub.stop(alone)
        if ref["errors"] or not ref["accuracies"]:
            raise RuntimeError(f"class00 alone failed: {ref['errors'] or 'no accuracies printed'}")
        # A teacher's warm-up: every student starts with class00's Go build cache.
        src = os.path.join(pwd.getpwnam(alone).pw_dir, ".cache", "go-build")
        for u in students:
            dst = os.path.join(pwd.getpwnam(u).pw_dir, ".cache", "go-build")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, symlinks=True)
            sh("chown", "-R", f"{u}:{u}", dst)
        start = time.time()
        for u in students:
            tokens[u] = hub.spawn(u)
        spawned = time.time()
        results = asyncio.run(run_users(hub, students, tokens, cells))
        report["class"] = {"spawn_seconds": round(spawned - start, 1),
                           "wall_seconds": round(time.time() - start, 1),
                           "run_wall_seconds": round(time.time() - spawned, 1),
                           "go_build_cache": "copied from class00", "per_user": results}
        for u, r in results.items():
            if r["errors"]:
                ok = False
                print(f"{u}: {r['errors']}", file=sys.stderr)
            elif r["accuracies"] != ref["accuracies"]:
                ok = False
                print(f"{u}: accuracies {r['accuracies']} differ from class00 alone {ref['accuracies']}", file=sys.stderr)
        report["same_accuracies_as_alone"] = ok
        for u in students:
            hub.stop(u)
        problems = isolation([alone] + students)
        report["isolation_problems"] = problems
        ok = ok and not problems
        # The copied build caches are 200+ MB each; the next run copies again.
        for u in students:
            shutil.rmtree(os.path.join(pwd.getpwnam(u).pw_dir, ".cache", "go-build"), ignore_errors=True)
    except Exception as e:
        ok = False
        report["error"] = f"{type(e).__name__}: {e}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    report["ok"] = ok
    print(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
