package peft

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestKillAdapterWriterHelper is the writer TestKilledAdapterWriter runs in
// a subprocess: it saves a rank-2 and a rank-6 LoRA adapter in turn, into
// one directory, until it is killed.
func TestKillAdapterWriterHelper(t *testing.T) {
	dir := os.Getenv("PEFT_KILL_ADAPTER_DIR")
	if dir == "" {
		t.Skip("run by TestKilledAdapterWriterLeavesLoadable")
	}
	m := tinyModel(t)
	var tuned []*Tuned
	for _, r := range []int{2, 6} {
		l := DefaultLoRA()
		l.R = r
		tu, err := NewTuned(m, NewSetup("a", l), ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		tuned = append(tuned, tu)
	}
	os.WriteFile(dir+".ready", nil, 0o644)
	for i := 0; ; i++ {
		if err := SaveAdapter(tuned[i%2], "a", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKilledAdapterWriterLeavesLoadable: SIGKILL at random points while an
// adapter directory is saved over and over, alternating two ranks; after
// every kill the directory loads, whole, as one of the two.
func TestKilledAdapterWriterLeavesLoadable(t *testing.T) {
	m := tinyModel(t)
	first, err := NewTuned(m, NewSetup("a", DefaultLoRA()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/adapter"
	if err := SaveAdapter(first, "a", dir); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ranks := map[int]int{}
	for round := range 12 {
		os.Remove(dir + ".ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillAdapterWriterHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PEFT_KILL_ADAPTER_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random point after the writer has started saving.
		for deadline := time.Now().Add(20 * time.Second); ; {
			if _, err := os.Stat(dir + ".ready"); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: the writer ended before it was killed", round)
		}
		fresh, err := NewTuned(m, &Setup{}, ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		loaded, name, err := fresh.LoadAdapter(dir)
		if err != nil {
			t.Fatalf("round %d: after SIGKILL the adapter does not load: %v", round, err)
		}
		ranks[loaded.Setup.Adapter(name).Method.(*LoRA).R]++
	}
	if ranks[2] == 0 || ranks[6] == 0 {
		t.Errorf("loaded ranks %v: the kills did not land between saves of both kinds", ranks)
	}
	t.Logf("ranks loaded after 12 kills: %v", ranks)
}
