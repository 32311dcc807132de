package main

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/janpfeifer/gonb/gonbui/protocol"
)

func codeCell(src string) map[string]any { return map[string]any{"cell_type": "code", "source": src} }

func TestComposeFollowsGoNBCells(t *testing.T) {
	cells := []map[string]any{
		codeCell("import \"fmt\"\n\nfunc twice(x int) int { return 2 * x }\n\n%%\nfmt.Println(twice(1))\n"),
		{"cell_type": "markdown", "source": "# text"},
		codeCell("// half halves.\nfunc half(x int) int { return x / 2 }\n"),
		codeCell("%%\nfmt.Println(half(twice(3)))\n"),
	}
	src, infos, warnings, err := compose(cells)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings: %v", warnings)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "main.go", src, 0); err != nil {
		t.Fatalf("composed program does not parse: %v\n%s", err, src)
	}
	var programs []int
	for _, in := range infos {
		if in.HasProgram {
			programs = append(programs, in.Index)
		}
	}
	if len(infos) != 4 || len(programs) != 2 || programs[0] != 0 || programs[1] != 3 {
		t.Fatalf("cells with programs = %v (infos %+v), want [0 3]", programs, infos)
	}
	for _, want := range []string{"func twice(", "// half halves.", "func cell00() {", "func cell03() {", `case "3":`} {
		if !strings.Contains(src, want) {
			t.Errorf("composed program lacks %q", want)
		}
	}
}

func TestComposeRejectsWhatOneProgramCannotMean(t *testing.T) {
	for name, cells := range map[string][]map[string]any{
		"redefinition": {codeCell("func f() {}\n"), codeCell("func f() {}\n")},
		"shell line":   {codeCell("!ls\n")},
		"magic":        {codeCell("%env X=1\n%%\n")},
		"own main":     {codeCell("func main() {}\n")},
	} {
		if _, _, _, err := compose(cells); err == nil {
			t.Errorf("%s: composed without error", name)
		}
	}
}

func TestDisplayIDUpdatesReplaceEarlierOutput(t *testing.T) {
	s := &session{outputs: map[int][]output{}, displays: map[string][]output{}}
	s.stream(0, "stdout", "a")
	s.stream(0, "stdout", "b")
	s.display(0, &protocol.DisplayData{Data: map[protocol.MIMEType]any{protocol.MIMETextHTML: "<b>1</b>"}, DisplayID: "bar"})
	s.display(2, &protocol.DisplayData{Data: map[protocol.MIMEType]any{protocol.MIMETextHTML: "<b>2</b>"}, DisplayID: "bar"})
	s.display(0, &protocol.DisplayData{Data: map[protocol.MIMEType]any{"gonb/comm": "x"}})
	if outs := s.outputs[0]; len(outs) != 2 || outs[0]["text"] != "ab" {
		t.Fatalf("cell 0 outputs = %v, want merged stdout and one display", outs)
	}
	if got := s.outputs[0][1]["data"].(map[string]any)[string(protocol.MIMETextHTML)]; got != "<b>2</b>" {
		t.Errorf("display with id not updated in place: %v", got)
	}
	if len(s.outputs[2]) != 0 {
		t.Errorf("an update created a new output in cell 2: %v", s.outputs[2])
	}
}
