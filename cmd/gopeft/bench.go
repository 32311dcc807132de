package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// benchmark is one `gopeft bench <name>`; other files add theirs with
// registerBench in init (e.g. bench_grad.go).
type benchmark struct {
	summary string
	run     func(args []string) int
}

var benchmarks = map[string]benchmark{}

func registerBench(name, summary string, run func(args []string) int) {
	if _, dup := benchmarks[name]; dup {
		panic("gopeft: benchmark registered twice: " + name)
	}
	benchmarks[name] = benchmark{summary: summary, run: run}
}

func init() {
	register("bench", "run a benchmark (gopeft bench -h lists them)", runBench)
}

func benchUsage() {
	fmt.Fprintf(os.Stderr, "Usage: gopeft bench <name> [flags]\n\nBenchmarks:\n")
	names := make([]string, 0, len(benchmarks))
	for name := range benchmarks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, benchmarks[name].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'gopeft bench <name> -h' for a benchmark's flags.\n")
}

func runBench(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	b, ok := benchmarks[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gopeft bench: unknown benchmark %q\n", args[0])
		benchUsage()
		return 2
	}
	return b.run(args[1:])
}

// runJSON runs a measuring child (this binary re-executed, or a reference
// script) with its stderr on ours and decodes the one JSON object it prints
// into v; what names the child in errors.
func runJSON(cmd *exec.Cmd, what string, v any) error {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(os.Stderr, &errOut)
	if err := cmd.Run(); err != nil {
		if last := lastLine(errOut.String()); last != "" {
			return fmt.Errorf("%s failed (%w): %s", what, err, last)
		}
		return fmt.Errorf("%s failed: %w", what, err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), v); err != nil {
		return fmt.Errorf("%s printed %q, not its JSON result: %w", what, out.String(), err)
	}
	return nil
}

// benchScript is scripts/bench/<name> of the GoPEFT checkout: under
// GOPEFT_ROOT when set, else under root.
func benchScript(root, name string) (string, error) {
	if r := os.Getenv("GOPEFT_ROOT"); r != "" {
		root = r
	}
	script := filepath.Join(root, "scripts", "bench", name)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("no %s (run from a GoPEFT checkout or set GOPEFT_ROOT)", script)
	}
	return script, nil
}
