package data

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Example is one labelled text. Classification tasks set Label (an index into
// Task.Labels); regression tasks set Value and leave Label 0.
type Example struct {
	Text  string
	Label int
	Value float64
}

// Task is a dataset split into train, dev and test.
type Task struct {
	Name, Description string
	Labels            []string // class names; nil for regression
	Regression        bool
	Train, Dev, Test  []Example
}

// Options control loading and splitting.
type Options struct {
	// Seed picks the split; the same seed always gives the same split (the
	// generator is our own, so it does not change with Go releases).
	Seed int64
	// KPerClass > 0 keeps only the first k training examples of each class
	// (each valence stratum for regression): a low-resource setting. Dev and
	// test are unchanged.
	KPerClass int
	// MaxExamples > 0 subsamples the whole task, stratified, before splitting.
	MaxExamples int
	// Dir is the cache dir; "" means CacheDir().
	Dir string
	// Regression makes LoadFile read labels as numbers.
	Regression bool
}

// Split ratios, applied per class (per valence stratum for regression), with
// rounding: dev and test each get round(n/10), train the rest.
const (
	DevFraction  = 0.1
	TestFraction = 0.1
)

// TaskInfo describes a built-in task.
type TaskInfo struct {
	Name, Description string
	Labels            []string
	Regression        bool
}

type taskDef struct {
	TaskInfo
	build func(pkg string) ([]Example, error)
}

var taskDefs = []taskDef{
	{TaskInfo{"spam", "SpamAssassin mail (subject + body) -> spam or ham (easy and hard ham)", []string{"ham", "spam"}, false}, buildSpam},
	{TaskInfo{"sotu-party", "State of the Union passage -> president's party", sotuParties, false}, buildSotuParty},
	{TaskInfo{"sotu-era", "State of the Union passage -> era (" + strings.Join(eraLabels, ", ") + ")", eraLabels, false}, buildSotuEra},
	{TaskInfo{"source", "passage -> Moby Dick or State of the Union (balanced)", []string{"moby-dick", "sotu"}, false}, buildSource},
	{TaskInfo{"polarity", "Liu opinion word -> negative or positive", []string{"negative", "positive"}, false}, buildPolarity},
	{TaskInfo{"names", "English first name -> female or male list", []string{"female", "male"}, false}, buildNames},
	{TaskInfo{"afinn", "AFINN-111 word or phrase -> valence in [-5, 5] (regression)", nil, true}, buildAfinn},
}

// Tasks lists the built-in tasks.
func Tasks() []TaskInfo {
	out := make([]TaskInfo, len(taskDefs))
	for i, d := range taskDefs {
		out[i] = d.TaskInfo
	}
	return out
}

var (
	poolMu sync.Mutex
	pools  = map[string][]Example{} // parsed tasks by cache dir + name
)

// Load reads a built-in task from the fetched datasets and splits it.
func Load(name string, opts Options) (*Task, error) {
	var def *taskDef
	for i := range taskDefs {
		if taskDefs[i].Name == name {
			def = &taskDefs[i]
		}
	}
	if def == nil {
		names := make([]string, len(taskDefs))
		for i, d := range taskDefs {
			names[i] = d.Name
		}
		return nil, fmt.Errorf("data: unknown task %q; built-in tasks: %s (or use LoadFile for your own CSV/JSONL)", name, strings.Join(names, ", "))
	}
	dir := opts.Dir
	if dir == "" {
		dir = CacheDir()
	}
	if ok, detail := cacheStatus(dir); !ok {
		return nil, fmt.Errorf("data: task %s needs the datasets: %s", name, detail)
	}
	key := dir + "\x00" + name
	poolMu.Lock()
	pool, ok := pools[key]
	poolMu.Unlock()
	if !ok {
		var err error
		if pool, err = def.build(PackageDir(dir)); err != nil {
			return nil, fmt.Errorf("data: building task %s: %w (if the cache is damaged, run `gopeft data fetch --force`)", name, err)
		}
		poolMu.Lock()
		pools[key] = pool
		poolMu.Unlock()
	}
	t := &Task{Name: def.Name, Description: def.Description, Labels: def.Labels, Regression: def.Regression}
	split(t, pool, opts)
	return t, nil
}

// stratum is the group an example is split within: its class, or its
// valence rounded to an integer for regression.
func stratum(e Example, regression bool) int {
	if regression {
		return int(math.Round(e.Value))
	}
	return e.Label
}

// split fills t's splits from pool (which it does not modify), stratified.
func split(t *Task, pool []Example, opts Options) {
	rng := newRNG(uint64(opts.Seed), t.Name)
	groups := map[int][]Example{}
	var keys []int
	for _, e := range pool {
		s := stratum(e, t.Regression)
		if _, ok := groups[s]; !ok {
			keys = append(keys, s)
		}
		groups[s] = append(groups[s], e)
	}
	sort.Ints(keys)
	total := len(pool)
	t.Train, t.Dev, t.Test = nil, nil, nil
	for _, k := range keys {
		g := append([]Example(nil), groups[k]...)
		rng.shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		if opts.MaxExamples > 0 && opts.MaxExamples < total {
			keep := int(math.Round(float64(len(g)) * float64(opts.MaxExamples) / float64(total)))
			g = g[:max(min(keep, len(g)), 1)]
		}
		nTest := int(math.Round(float64(len(g)) * TestFraction))
		nDev := int(math.Round(float64(len(g)) * DevFraction))
		t.Test = append(t.Test, g[:nTest]...)
		t.Dev = append(t.Dev, g[nTest:nTest+nDev]...)
		train := g[nTest+nDev:]
		if opts.KPerClass > 0 && len(train) > opts.KPerClass {
			train = train[:opts.KPerClass]
		}
		t.Train = append(t.Train, train...)
	}
	// Interleave the classes, each split with its own generator so k-shot
	// (a shorter train split) leaves dev and test exactly as they were.
	for i, s := range [][]Example{t.Train, t.Dev, t.Test} {
		r := newRNG(uint64(opts.Seed), t.Name+"/"+[]string{"train", "dev", "test"}[i])
		r.shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	}
}

// MajorityBaseline is the test accuracy of always predicting the most
// frequent training label. For regression tasks it returns NaN; see
// MeanBaselineMSE.
func MajorityBaseline(t *Task) float64 {
	if t.Regression || len(t.Test) == 0 {
		return math.NaN()
	}
	counts := map[int]int{}
	best := 0
	for _, e := range t.Train {
		counts[e.Label]++
		if counts[e.Label] > counts[best] || counts[e.Label] == counts[best] && e.Label < best {
			best = e.Label
		}
	}
	hit := 0
	for _, e := range t.Test {
		if e.Label == best {
			hit++
		}
	}
	return float64(hit) / float64(len(t.Test))
}

// MeanBaselineMSE is the test mean squared error of always predicting the
// mean training value, the regression counterpart of MajorityBaseline.
func MeanBaselineMSE(t *Task) float64 {
	if len(t.Train) == 0 || len(t.Test) == 0 {
		return math.NaN()
	}
	mean := 0.0
	for _, e := range t.Train {
		mean += e.Value
	}
	mean /= float64(len(t.Train))
	mse := 0.0
	for _, e := range t.Test {
		mse += (e.Value - mean) * (e.Value - mean)
	}
	return mse / float64(len(t.Test))
}

// rng is splitmix64 (Steele et al. 2014): tiny, and fixed, so splits are
// stable across Go versions.
type rng struct{ s uint64 }

func newRNG(seed uint64, name string) *rng {
	h := uint64(14695981039346656037) // FNV-1a of the task name
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return &rng{s: seed ^ h}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.next()%uint64(i+1)))
	}
}

// --- corpus readers ---

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// twoLists labels the entries of two word lists, dropping entries in both
// (they have no single answer) and duplicates.
func twoLists(a, b string) ([]Example, error) {
	la, err := readLines(a)
	if err != nil {
		return nil, err
	}
	lb, err := readLines(b)
	if err != nil {
		return nil, err
	}
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, s := range la {
		inA[s] = true
	}
	for _, s := range lb {
		inB[s] = true
	}
	var out []Example
	for label, list := range [][]string{la, lb} {
		seen := map[string]bool{}
		for _, s := range list {
			if inA[s] && inB[s] || seen[s] {
				continue
			}
			seen[s] = true
			out = append(out, Example{Text: s, Label: label})
		}
	}
	return out, nil
}

func buildPolarity(pkg string) ([]Example, error) {
	return twoLists(filepath.Join(pkg, "liu-negative-opinion-words-en/data/words.txt"),
		filepath.Join(pkg, "liu-positive-opinion-words-en/data/words.txt"))
}

func buildNames(pkg string) ([]Example, error) {
	return twoLists(filepath.Join(pkg, "female-first-names-en/data/names.txt"),
		filepath.Join(pkg, "male-first-names-en/data/names.txt"))
}

func buildAfinn(pkg string) ([]Example, error) {
	f, err := os.Open(filepath.Join(pkg, "afinn-111/data/words.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []Example
	for i, r := range rows {
		if i == 0 || len(r) != 2 {
			continue // header word,valence
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(r[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("afinn row %d: %w", i+1, err)
		}
		out = append(out, Example{Text: strings.TrimSpace(r[0]), Value: v})
	}
	return out, nil
}

// spamDirs are the SpamAssassin groups; hard ham counts as ham.
var spamDirs = []struct {
	dir   string
	label int
}{{"easy-ham-1", 0}, {"easy-ham-2", 0}, {"hard-ham-1", 0}, {"spam-1", 1}, {"spam-2", 1}}

func buildSpam(pkg string) ([]Example, error) {
	var out []Example
	seen := map[string]bool{}
	for _, d := range spamDirs {
		files, err := filepath.Glob(filepath.Join(pkg, "spam-assassin/data", d.dir, "*.txt"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no mails in spam-assassin/data/%s", d.dir)
		}
		sort.Strings(files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			text := mailText(raw)
			// Identical cleaned texts (resent mails) would leak across splits.
			if text == "" || seen[text] {
				continue
			}
			seen[text] = true
			out = append(out, Example{Text: text, Label: d.label})
		}
	}
	return out, nil
}

// Speech is one State of the Union address.
type Speech struct {
	Year      int
	President string
	Party     string
	Text      string
}

// sotuParties are the parties kept by sotu-party. The other speeches (no
// party: Washington and Tyler's later years; Federalist: J. Adams; Whig;
// "Whig & Democratic"; National Union: A. Johnson) have 4-7 speeches each,
// too few to learn or evaluate, and are dropped.
var sotuParties = []string{"Democratic", "Republican", "Democratic-Republican"}

// Eras of sotu-era, by the speech's year (inclusive bounds).
var (
	eraLabels = []string{"1790-1860", "1861-1932", "1933-1980", "1981-"}
	eraStarts = []int{1790, 1861, 1933, 1981}
)

func eraOf(year int) int {
	e := 0
	for i, s := range eraStarts {
		if year >= s {
			e = i
		}
	}
	return e
}

var (
	sotuMu    sync.Mutex
	sotuCache = map[string][]Speech{}
)

func readSpeeches(pkg string) ([]Speech, error) {
	sotuMu.Lock()
	defer sotuMu.Unlock()
	if s, ok := sotuCache[pkg]; ok {
		return s, nil
	}
	files, err := filepath.Glob(filepath.Join(pkg, "sotu/data", "[0-9]*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no speeches in sotu/data")
	}
	sort.Strings(files)
	var out []Speech
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s struct {
			Year  int    `json:"year"`
			Name  string `json:"name"`
			Party string `json:"party"`
			Text  string `json:"text"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		out = append(out, Speech{Year: s.Year, President: s.Name, Party: s.Party, Text: s.Text})
	}
	sotuCache[pkg] = out
	return out, nil
}

func speechPassages(s Speech) []string {
	return passages(stageDirections.ReplaceAllString(s.Text, " "))
}

// Speeches returns the State of the Union addresses in year order. dir is
// the cache dir; "" means CacheDir().
func Speeches(dir string) ([]Speech, error) {
	if dir == "" {
		dir = CacheDir()
	}
	if ok, detail := cacheStatus(dir); !ok {
		return nil, fmt.Errorf("data: speeches need the datasets: %s", detail)
	}
	return readSpeeches(PackageDir(dir))
}

func buildSotuParty(pkg string) ([]Example, error) {
	speeches, err := readSpeeches(pkg)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, s := range speeches {
		label := -1
		for i, p := range sotuParties {
			if s.Party == p {
				label = i
			}
		}
		if label < 0 {
			continue
		}
		for _, p := range speechPassages(s) {
			out = append(out, Example{Text: p, Label: label})
		}
	}
	return out, nil
}

func buildSotuEra(pkg string) ([]Example, error) {
	speeches, err := readSpeeches(pkg)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, s := range speeches {
		for _, p := range speechPassages(s) {
			out = append(out, Example{Text: p, Label: eraOf(s.Year)})
		}
	}
	return out, nil
}

// mobyPassages cuts each chapter (heading line dropped) into passages.
func mobyPassages(pkg string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(pkg, "moby-dick/data", "chapter_*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no chapters in moby-dick/data")
	}
	// Chapter order, not name order: chapter_2 before chapter_10.
	num := func(f string) int {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "chapter_"), ".txt"))
		return n
	}
	sort.Slice(files, func(i, j int) bool { return num(files[i]) < num(files[j]) })
	if _, err := os.Stat(filepath.Join(pkg, "moby-dick/data/epilogue.txt")); err == nil {
		files = append(files, filepath.Join(pkg, "moby-dick/data/epilogue.txt"))
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		text := string(b)
		if first, rest, ok := strings.Cut(text, "\n"); ok && (strings.HasPrefix(first, "CHAPTER") || strings.HasPrefix(first, "Epilogue")) {
			text = rest
		}
		// Passages stay inside a paragraph; short paragraphs are joined to
		// the next so passages are cut as in the speeches.
		var buf []string
		for _, para := range strings.Split(text, "\n\n") {
			buf = append(buf, para)
			if len(strings.Fields(strings.Join(buf, " "))) >= passageWords {
				out = append(out, passages(strings.Join(buf, " "))...)
				buf = nil
			}
		}
		if len(buf) > 0 {
			out = append(out, passages(strings.Join(buf, " "))...)
		}
	}
	return out, nil
}

// sourceSeed fixes which SOTU passages balance `source`, so the task's
// examples do not depend on Options.Seed (only its split does).
const sourceSeed = 20261128

func buildSource(pkg string) ([]Example, error) {
	moby, err := mobyPassages(pkg)
	if err != nil {
		return nil, err
	}
	speeches, err := readSpeeches(pkg)
	if err != nil {
		return nil, err
	}
	var sotu []string
	for _, s := range speeches {
		sotu = append(sotu, speechPassages(s)...)
	}
	r := newRNG(sourceSeed, "source")
	r.shuffle(len(sotu), func(i, j int) { sotu[i], sotu[j] = sotu[j], sotu[i] })
	n := min(len(moby), len(sotu))
	var out []Example
	for _, p := range moby[:n] {
		out = append(out, Example{Text: p, Label: 0})
	}
	for _, p := range sotu[:n] {
		out = append(out, Example{Text: p, Label: 1})
	}
	return out, nil
}

// PretrainText returns the raw text for masked-language-model pretraining:
// Moby Dick passages, in book order, then State of the Union passages, in
// year order (passages of whole sentences, about 60 words each). dir is the
// cache dir; "" means CacheDir().
func PretrainText(dir string) ([]string, error) {
	if dir == "" {
		dir = CacheDir()
	}
	if ok, detail := cacheStatus(dir); !ok {
		return nil, fmt.Errorf("data: pretraining text needs the datasets: %s", detail)
	}
	pkg := PackageDir(dir)
	out, err := mobyPassages(pkg)
	if err != nil {
		return nil, err
	}
	speeches, err := readSpeeches(pkg)
	if err != nil {
		return nil, err
	}
	for _, s := range speeches {
		out = append(out, speechPassages(s)...)
	}
	return out, nil
}
