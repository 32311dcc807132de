package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"
	"golang.org/x/mod/modfile"
)

// ModulePath is GoPEFT's module path, resolved in cells to the installed source.
const ModulePath = "github.com/gopeft/gopeft"

// engine is the GoNB child process that compiles and runs cells. It runs in
// its own process group with its own TMPDIR, so that stopping it removes every
// process (gonb, gopls, go build, cell programs) and every temp file it made.
type engine struct {
	cmd     *exec.Cmd
	conn    ConnectionInfo
	workDir string // TMPDIR of the child; removed on stop
	modDir  string // GoNB's cell module ($TMPDIR/gonb_<id>)
	exited  chan struct{}
}

// FindRoot locates the GoPEFT source tree: $GOPEFT_ROOT, else the first
// directory holding GoPEFT's go.mod above the working directory or the
// executable.
func FindRoot() (string, error) {
	if r := os.Getenv("GOPEFT_ROOT"); r != "" {
		if isRoot(r) {
			return filepath.Abs(r)
		}
		return "", fmt.Errorf("GOPEFT_ROOT=%s has no go.mod for module %s; point it at the GoPEFT checkout", r, ModulePath)
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, d := range starts {
		for {
			if isRoot(d) {
				return d, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", fmt.Errorf("cannot find the GoPEFT source tree (go.mod of %s); run from the checkout or pass --root / set GOPEFT_ROOT", ModulePath)
}

func isRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && modfile.ModulePath(data) == ModulePath
}

// FindTool looks a program up in PATH, then in $GOPATH/bin, $HOME/go/bin and
// beside this executable: install.sh puts gonb/goimports/gopls in one of them.
func FindTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range toolDirs() {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %s; install.sh builds it (e.g. go build -o /usr/local/bin/gonb github.com/janpfeifer/gonb)", name, strings.Join(toolDirs(), ", "))
}

func toolDirs() []string {
	var dirs []string
	if tp := os.Getenv("GOPEFT_TOOL_PATH"); tp != "" {
		dirs = append(dirs, filepath.SplitList(tp)...)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	dirs = append(dirs, "/usr/local/go/bin", "/usr/local/bin")
	return dirs
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("no free local TCP port for the GoNB engine: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// childEnv is the environment of GoNB and the cells: tools on PATH, offline
// module resolution unless the user configured a proxy, no toolchain switch.
func childEnv(workDir string, gonbPath string) []string {
	env := os.Environ()
	set := func(k, v string) {
		for i, e := range env {
			if strings.HasPrefix(e, k+"=") {
				env[i] = k + "=" + v
				return
			}
		}
		env = append(env, k+"="+v)
	}
	path := os.Getenv("PATH")
	extra := []string{filepath.Dir(gonbPath)}
	extra = append(extra, toolDirs()...)
	for _, d := range extra {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path = path + ":" + d
		}
	}
	set("PATH", path)
	set("TMPDIR", workDir)
	set(workEnv, workDir)
	// The kernel's widget socket (widgets.go), in the 0700 work dir.
	set(WidgetsEnv, filepath.Join(workDir, "widgets.sock"))
	// GOFLAGS in the environment replaces the one from `go env -w`, so start
	// from the effective value.
	flags := os.Getenv("GOFLAGS")
	if flags == "" {
		if goBin, err := FindTool("go"); err == nil {
			if out, err := exec.Command(goBin, "env", "GOFLAGS").Output(); err == nil {
				flags = strings.TrimSpace(string(out))
			}
		}
	}
	if !strings.Contains(flags, "-mod=") {
		flags = strings.TrimSpace(flags + " -mod=mod")
	}
	set("GOFLAGS", flags)
	if os.Getenv("GOTOOLCHAIN") == "" {
		set("GOTOOLCHAIN", "local")
	}
	if os.Getenv("GOPROXY") == "" && os.Getenv("GOPEFT_KERNEL_ONLINE") == "" {
		// Everything GoPEFT needs is in the module cache after install; a cell
		// that imports something new gets a clear "GOPROXY=off" error instead
		// of a hang on a machine without network.
		set("GOPROXY", "off")
	}
	if os.Getenv("GOMLX_BACKEND") == "" {
		// Pinned, so a cell calling GoMLX's backends.New() directly never
		// reaches for XLA (which would try to download a plugin): GoPEFT's
		// blas CPU backend when OpenBLAS loads, else the pure-Go one.
		set("GOMLX_BACKEND", cpuBackend())
	}
	return env
}

// startEngine starts GoNB on a private connection file with a key of its own.
// memLimit (bytes, 0 = none) is the RLIMIT_DATA of GoNB and everything it starts.
func startEngine(frontConnFile, gonbPath, root string, logw io.Writer, memLimit int64) (*engine, error) {
	sweepStale()
	workDir, err := os.MkdirTemp("", "gopeft-kernel-")
	if err != nil {
		return nil, fmt.Errorf("creating the kernel's temp dir: %w", err)
	}
	_ = os.WriteFile(filepath.Join(workDir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	ports, err := freePorts(5)
	if err != nil {
		os.RemoveAll(workDir)
		return nil, err
	}
	e := &engine{workDir: workDir, exited: make(chan struct{})}
	// The link to GoNB has its own key: the client's key is in no file the
	// kernel writes and in no process but the kernel, and GoNB's loopback
	// ports accept nothing signed for the client's.
	e.conn = ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: ports[0], ControlPort: ports[1],
		StdinPort: ports[2], IOPubPort: ports[3], HBPort: ports[4], Key: newID() + newID(), SignatureScheme: "hmac-sha256"}
	// GoNB takes the Jupyter kernel id from a "kernel-<id>.json" file name
	// (its widgets address the kernel by it), so keep the front-end's name.
	name := "kernel-" + newID() + ".json"
	if b := filepath.Base(frontConnFile); strings.HasPrefix(b, "kernel-") && strings.HasSuffix(b, ".json") {
		name = b
	}
	connPath := filepath.Join(workDir, name)
	data, _ := json.Marshal(e.conn)
	if err := os.WriteFile(connPath, data, 0o600); err != nil {
		os.RemoveAll(workDir)
		return nil, fmt.Errorf("writing GoNB's connection file: %w", err)
	}
	args := []string{"--kernel", connPath, "--logtostderr"}
	// GOPEFT_KERNEL_DEBUG=1 keeps GoNB's info lines; a larger number is also
	// GoNB's klog verbosity.
	if v, err := strconv.Atoi(os.Getenv("GOPEFT_KERNEL_DEBUG")); err == nil && v > 1 {
		args = append(args, "-v="+strconv.Itoa(v))
	}
	e.cmd = exec.Command(gonbPath, args...)
	e.cmd.Dir = workDir
	e.cmd.Env = childEnv(workDir, gonbPath)
	lw := newLogFilter(logw)
	e.cmd.Stdout, e.cmd.Stderr = lw, lw
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startWithDataLimit(memLimit, e.cmd.Start); err != nil {
		os.RemoveAll(workDir)
		return nil, fmt.Errorf("starting GoNB (%s): %w", gonbPath, err)
	}
	// When memory runs out for the whole machine or cgroup (a class's 2 GB:
	// several processes each under the limit), the OOM killer should take a
	// cell, not the kernel or the notebook server. Raising another process's
	// score needs no privilege; GoNB's children inherit it.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", e.cmd.Process.Pid), []byte(strconv.Itoa(engineOOMScoreAdj)), 0)
	go func() {
		_ = e.cmd.Wait()
		close(e.exited)
	}()
	if err := e.prepareModule(root); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// prepareModule waits for GoNB's `go mod init` and rewrites its go.mod so that
// cells resolve GoPEFT to the installed source and its dependencies to the
// versions GoPEFT pins: no go.work or %goworkfix cell needed.
func (e *engine) prepareModule(root string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(e.workDir, "gonb_*", "go.mod"))
		if len(matches) > 0 {
			e.modDir = filepath.Dir(matches[0])
			break
		}
		select {
		case <-e.exited:
			return fmt.Errorf("GoNB exited during start-up; see the kernel log above (is `go` on PATH?)")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GoNB did not create its module in %s within 60 s", e.workDir)
		}
	}
	if root == "" {
		return nil
	}
	cur, err := os.ReadFile(filepath.Join(e.modDir, "go.mod"))
	if err != nil {
		return err
	}
	gomod, err := CellGoMod(modfile.ModulePath(cur), root)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(e.modDir, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	if sum, err := os.ReadFile(filepath.Join(root, "go.sum")); err == nil {
		if err := atomicfile.WriteFile(filepath.Join(e.modDir, "go.sum"), sum, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CellGoMod returns the go.mod for the cell module named name: GoPEFT's own
// requirements, plus GoPEFT itself replaced by the source at root.
func CellGoMod(name, root string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("reading GoPEFT's go.mod: %w (is GOPEFT_ROOT/--root right?)", err)
	}
	src, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing %s/go.mod: %w", root, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "module %s\n\n", name)
	if src.Go != nil {
		fmt.Fprintf(&b, "go %s\n\n", src.Go.Version)
	}
	fmt.Fprintf(&b, "require %s v0.0.0-00010101000000-000000000000\n\n", ModulePath)
	if len(src.Require) > 0 {
		b.WriteString("require (\n")
		for _, r := range src.Require {
			fmt.Fprintf(&b, "\t%s %s\n", r.Mod.Path, r.Mod.Version)
		}
		b.WriteString(")\n\n")
	}
	fmt.Fprintf(&b, "replace %s => %s\n", ModulePath, root)
	for _, r := range src.Replace {
		newPath := r.New.Path
		if r.New.Version == "" && !filepath.IsAbs(newPath) {
			newPath = filepath.Join(root, newPath)
		}
		if r.New.Version != "" {
			newPath += " " + r.New.Version
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		fmt.Fprintf(&b, "replace %s => %s\n", old, newPath)
	}
	return b.Bytes(), nil
}

// sweepStale cleans up after kernels that were killed outright (SIGKILL, OOM):
// GoNB dies with them (Pdeathsig) but gopls and the work dir would stay.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gopeft-kernel-*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		e := &engine{workDir: d}
		for _, p := range e.processTree() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = os.RemoveAll(d)
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// interrupt asks GoNB to interrupt the running cell (it forwards SIGINT to
// the cell program). GoNB ignores interrupts while it compiles, and a cell
// may ignore SIGINT, so after grace, while stillRunning reports the cell
// unfinished, the engine's workers (go build, goimports, the cell program;
// not GoNB or gopls) are killed.
func (e *engine) interrupt(grace time.Duration, stillRunning func() bool) {
	if e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	go func() {
		time.Sleep(grace)
		deadline := time.Now().Add(30 * time.Second)
		for stillRunning() && time.Now().Before(deadline) {
			for _, pid := range e.workers() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			select {
			case <-e.exited:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// workers lists the engine's processes except GoNB and gopls (with its helpers).
func (e *engine) workers() []int { return e.leftovers() }

// cellPrograms lists running processes whose executable was built in the
// engine's work dir (the compiled cells).
func (e *engine) cellPrograms() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		var pid int
		if _, err := fmt.Sscanf(ent.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, e.workDir+string(os.PathSeparator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stop ends GoNB and everything it started, and removes the work dir.
// polite is how long GoNB gets to exit by itself (after a shutdown_request).
func (e *engine) stop() {
	e.stopAfter(0)
}

func (e *engine) stopAfter(polite time.Duration) {
	if e.cmd.Process != nil {
		// gopls starts in its own process group and its telemetry helper in
		// its own session, so the group alone is not enough: snapshot the
		// whole tree (and anything running from the work dir) before killing.
		victims := e.processTree()
		select {
		case <-e.exited:
		case <-time.After(polite):
			_ = syscall.Kill(e.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-e.exited:
			case <-time.After(time.Second):
			}
		}
		victims = append(victims, e.processTree()...)
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-e.exited
	}
	for i := 0; i < 10; i++ {
		if err := os.RemoveAll(e.workDir); err == nil {
			if _, err := os.Stat(e.workDir); os.IsNotExist(err) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// engineOOMScoreAdj is the OOM killer's bias for GoNB and everything it runs
// (-1000..1000; the kernel and Jupyter keep 0).
const engineOOMScoreAdj = 500

// workEnv marks every process the engine starts (GoNB and what it runs
// inherit it), so one that left the tree (a daemon, an orphan reparented to
// init) is still found and killed.
const workEnv = "GOPEFT_KERNEL_WORK"

type procInfo struct {
	ppid    int
	cmdline []byte
	inWork  bool // command line, executable or workEnv points at the work dir
}

// scan reads the process table.
func (e *engine) scan() map[int]*procInfo {
	procs := map[int]*procInfo{}
	mark := []byte(workEnv + "=" + e.workDir + "\x00")
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		p := &procInfo{}
		// Fields after the parenthesised command: state ppid ...
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 1 {
				p.ppid, _ = strconv.Atoi(f[1])
			}
			if len(f) > 0 && f[0] == "Z" {
				continue // dead already; its parent reaps it
			}
		}
		p.cmdline, _ = os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		exe, _ := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		environ, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "environ"))
		p.inWork = bytes.Contains(p.cmdline, []byte(e.workDir+"/")) || strings.HasPrefix(exe, e.workDir+"/") ||
			bytes.Contains(environ, mark)
		procs[pid] = p
	}
	return procs
}

// processTree lists the engine's descendants and any process whose command
// line or executable points into the work dir or that carries workEnv.
func (e *engine) processTree() []int {
	procs := e.scan()
	root := -1
	if e.cmd != nil && e.cmd.Process != nil {
		root = e.cmd.Process.Pid
	}
	var out []int
	for pid, p := range procs {
		if p.inWork || e.descends(procs, pid, root) {
			out = append(out, pid)
		}
	}
	return out
}

func (e *engine) descends(procs map[int]*procInfo, pid, root int) bool {
	for p, n := procs[pid], 0; p != nil && n < 64; n++ {
		if p.ppid == root {
			return true
		}
		p = procs[p.ppid]
	}
	return false
}

// leftovers lists what the engine runs besides GoNB itself and gopls (with
// its helpers and their go list children): between cells, nothing else
// should be alive, so whatever is was started by a cell (a forked child, a
// daemon, `!cmd &`) and must not outlive it.
func (e *engine) leftovers() []int {
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	procs := e.scan()
	root := e.cmd.Process.Pid
	isGopls := func(pid int) bool {
		for p, n := procs[pid], 0; p != nil && n < 64; n++ {
			if bytes.Contains(p.cmdline, []byte("gopls")) {
				return true
			}
			if p.ppid == root {
				return false
			}
			p = procs[p.ppid]
		}
		return false
	}
	var out []int
	for pid, p := range procs {
		if pid == root || pid == os.Getpid() || !(p.inWork || e.descends(procs, pid, root)) || isGopls(pid) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// sweep kills the leftovers of a finished cell and frees GoNB's stuck
// pipes; it returns the names of the processes it killed. It runs before
// the cell's reply goes out and before the next cell reaches GoNB.
func (e *engine) sweep() []string {
	var names []string
	for _, pid := range e.leftovers() {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			names = append(names, strings.TrimSpace(string(comm)))
		}
	}
	e.unblockPipes()
	return names
}

// unblockPipes opens each of GoNB's display pipes (gonb_pipe_* in TMPDIR)
// from both ends without blocking. GoNB 0.11.1 cleans a cell's pipe up in
// a goroutine that opens it and waits for the other end, which a cell that
// ended early never opens: the goroutine, an fd and the fifo would stay
// for good (a few every hundred cells). Given an end, GoNB removes the fifo.
func (e *engine) unblockPipes() {
	pipes, _ := filepath.Glob(filepath.Join(e.workDir, "gonb_pipe_*"))
	for _, p := range pipes {
		if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			continue
		}
		for _, flag := range []int{os.O_RDONLY, os.O_WRONLY} {
			if fd, err := syscall.Open(p, flag|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
				_ = syscall.Close(fd)
			}
		}
	}
}
