// Command gopeft is GoPEFT's one CLI: setup checks, the Jupyter kernel, data,
// pretraining, fine-tuning, estimates and benchmarks.
//
// Each subcommand lives in its own file and registers itself in init, so the
// subcommands stay independent of each other.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// command is one subcommand: run gets the arguments after the subcommand's name
// and returns the process exit code.
type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("gopeft: subcommand registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintf(os.Stderr, "gopeft %s: parameter-efficient fine-tuning in Go.\n\nUsage: gopeft <command> [flags]\n\nCommands:\n", version)
	for _, name := range sortedNames() {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'gopeft <command> -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	if os.Args[1] == "version" || os.Args[1] == "--version" {
		fmt.Println("gopeft", version)
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gopeft: unknown command %q; known commands: %s\n", os.Args[1], strings.Join(sortedNames(), ", "))
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

func sortedNames() []string { return slices.Sorted(maps.Keys(commands)) }

// newFlags returns a FlagSet whose usage line names the subcommand.
func newFlags(name, argsHelp string) *flag.FlagSet {
	fs := flag.NewFlagSet("gopeft "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gopeft %s %s\n", name, argsHelp)
		fs.PrintDefaults()
	}
	return fs
}

// printJSON prints v as indented JSON on stdout, the --json output of every
// subcommand; it returns the exit code.
func printJSON(v any) int {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft:", err)
		return 1
	}
	return 0
}
