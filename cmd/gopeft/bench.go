package main

import (
	"fmt"
	"os"
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
