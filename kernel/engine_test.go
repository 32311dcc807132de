package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A fake engine tree: GoNB (a shell) with gopls and a cell's child under
// it, plus a process outside the tree that carries the work dir's marker.
// leftovers finds the child and the marked one, never GoNB or gopls.
func TestLeftovers(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	work := t.TempDir()
	gopls := filepath.Join(work, "bin", "gopls")
	_ = os.MkdirAll(filepath.Dir(gopls), 0o700)
	if err := os.Symlink(sleep, gopls); err != nil {
		t.Fatal(err)
	}
	e := &engine{workDir: work}
	e.cmd = exec.Command("sh", "-c", gopls+" 300 & "+sleep+" 301 & wait")
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL); _ = e.cmd.Wait() }()
	marked := exec.Command(sleep, "302")
	marked.Env = append(os.Environ(), workEnv+"="+work)
	if err := marked.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = marked.Process.Kill(); _ = marked.Wait() }()

	names := func(pids []int) []string {
		var out []string
		for _, pid := range pids {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			out = append(out, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		}
		slices.Sort(out)
		return out
	}
	want := []string{sleep + " 301", sleep + " 302"}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = names(e.leftovers()); slices.Equal(got, want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("leftovers %q, want %q", got, want)
	}
	if killed := e.sweep(); len(killed) != 2 {
		t.Fatalf("sweep killed %q", killed)
	}
	_ = marked.Wait()
	if marked.ProcessState == nil || marked.ProcessState.Success() {
		t.Fatal("the marked process was not killed")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = names(e.leftovers()); len(got) == 0 {
			break
		}
	}
	if len(got) != 0 {
		t.Fatalf("after the sweep: %q", got)
	}
	if !alive(e.cmd.Process.Pid) {
		t.Fatal("the sweep killed GoNB")
	}
}

// The child gets the data limit from its first instruction; this process
// gets its own limit back.
func TestStartWithDataLimit(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &before); err != nil {
		t.Skip(err)
	}
	const limit = 768 << 20
	cmd := exec.Command("sh", "-c", "ulimit -d")
	var out strings.Builder
	cmd.Stdout = &out
	if err := startWithDataLimit(limit, cmd.Start); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if before.Cur < limit {
		t.Skipf("this process's own limit %d is lower", before.Cur)
	}
	if got := strings.TrimSpace(out.String()); got != strconv.Itoa(limit>>10) {
		t.Fatalf("child's ulimit -d = %s KiB, want %d", got, limit>>10)
	}
	var after syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_DATA, &after)
	if after != before {
		t.Fatalf("own limit %+v, was %+v", after, before)
	}
}
