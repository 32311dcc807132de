package kernel

import (
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
)

// IsComplete answers an is_complete_request for a GoNB cell: "complete",
// "incomplete" (with the indent for the next line) or "invalid".
//
// GoNB's special lines (`%%`, `%cmd`, `!shell`) are complete on their own, unless
// they end in a backslash, which GoNB treats as a line continuation.
func IsComplete(code string) (status, indent string) {
	lines := strings.Split(code, "\n")
	var goLines []string
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "%") || strings.HasPrefix(t, "!") {
			if strings.HasSuffix(t, `\`) && i == len(lines)-1 {
				return "incomplete", ""
			}
			goLines = append(goLines, "") // keep line numbers stable
			continue
		}
		goLines = append(goLines, line)
	}
	src := strings.Join(goLines, "\n")
	if strings.TrimSpace(src) == "" {
		return "complete", ""
	}

	// Bracket depth and lexical errors first: they decide incomplete vs invalid
	// without depending on the parser's error wording.
	fset := token.NewFileSet()
	file := fset.AddFile("cell.go", -1, len(src))
	var lexErr string
	var s scanner.Scanner
	s.Init(file, []byte(src), func(_ token.Position, msg string) {
		if lexErr == "" {
			lexErr = msg
		}
	}, scanner.ScanComments)
	var stack []token.Token
	last := token.ILLEGAL
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			stack = append(stack, tok)
		case token.RPAREN, token.RBRACK, token.RBRACE:
			open := map[token.Token]token.Token{token.RPAREN: token.LPAREN, token.RBRACK: token.LBRACK, token.RBRACE: token.LBRACE}[tok]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return "invalid", ""
			}
			stack = stack[:len(stack)-1]
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // automatic semicolon: keep the real last token
		}
		if tok != token.COMMENT {
			last = tok
		}
	}
	if lexErr != "" {
		switch {
		case strings.Contains(lexErr, "raw string literal not terminated"),
			strings.Contains(lexErr, "comment not terminated"):
			return "incomplete", ""
		default:
			return "invalid", ""
		}
	}
	if len(stack) > 0 {
		return "incomplete", strings.Repeat("\t", len(stack))
	}
	if last.IsOperator() && last != token.RPAREN && last != token.RBRACK && last != token.RBRACE &&
		last != token.SEMICOLON && last != token.INC && last != token.DEC {
		// A trailing binary operator, comma or dot continues on the next line.
		return "incomplete", "\t"
	}

	// Balanced: a cell is either top-level declarations or statements (after
	// `%%`, or the body GoNB wraps into main).
	if _, err := parser.ParseFile(token.NewFileSet(), "cell.go", "package cell\n"+src, parser.AllErrors); err == nil {
		return "complete", ""
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "cell.go", "package cell\nfunc _() {\n"+src+"\n}", parser.AllErrors); err == nil {
		return "complete", ""
	}
	return "invalid", ""
}
