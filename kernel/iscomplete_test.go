package kernel

import "testing"

func TestIsComplete(t *testing.T) {
	cases := []struct{ code, want string }{
		{`import "fmt"`, "complete"},
		{"func f() int { return 1 }", "complete"},
		{"%%\nfmt.Println(1)", "complete"},
		{"!ls -l", "complete"},
		{"%backend", "complete"},
		{"x := 3", "complete"},
		{"", "complete"},
		{"func f() {", "incomplete"},
		{"var x = []int{1,", "incomplete"},
		{"x := `abc", "incomplete"},
		{"/* open comment", "incomplete"},
		{"x := 1 +", "incomplete"},
		{"!ls \\", "incomplete"},
		{"func f() }", "invalid"},
		{")", "invalid"},
		{`x := "abc`, "invalid"},
		{"func func", "invalid"},
	}
	for _, c := range cases {
		got, indent := IsComplete(c.code)
		if got != c.want {
			t.Errorf("IsComplete(%q) = %q, want %q", c.code, got, c.want)
		}
		if c.code == "func f() {" && indent != "\t" {
			t.Errorf("IsComplete(%q) indent = %q, want a tab", c.code, indent)
		}
	}
}
