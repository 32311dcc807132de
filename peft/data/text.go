package data

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Passage sizes, in words. Both corpora are cut the same way so that passage
// length is no cue for the `source` task.
const (
	passageWords    = 60  // a passage closes at the first sentence end past this
	passageMaxWords = 120 // a longer run without sentence end is cut here
	minPassageWords = 8   // shorter leftovers join the previous passage (or are dropped)
	maxMailChars    = 2000
)

// passages cuts text into runs of whole sentences of about passageWords words.
func passages(text string) []string {
	words := strings.Fields(text)
	var out []string
	start := 0
	for i, w := range words {
		n := i - start + 1
		if (n >= passageWords && sentenceEnd(w)) || n >= passageMaxWords {
			out = append(out, strings.Join(words[start:i+1], " "))
			start = i + 1
		}
	}
	if rest := len(words) - start; rest > 0 {
		tail := strings.Join(words[start:], " ")
		switch {
		case rest >= passageWords/2 || len(out) == 0 && rest >= minPassageWords:
			out = append(out, tail)
		case len(out) > 0:
			out[len(out)-1] += " " + tail
		}
	}
	return out
}

func sentenceEnd(w string) bool {
	w = strings.TrimRight(w, "\"'”’)]")
	if w == "" {
		return false
	}
	switch w[len(w)-1] {
	case '.', '!', '?':
	default:
		return false
	}
	// "Mr." "Mrs." "St." "U.S." and initials do not end sentences.
	core := strings.TrimRight(w, ".")
	switch core {
	case "Mr", "Mrs", "Dr", "St", "Messrs", "Gen", "Gov", "Hon", "Sen", "Rep", "No", "Jr", "Sr", "Capt", "Col":
		return false
	}
	if len(core) == 1 || strings.Count(w, ".") > 1 && !strings.ContainsAny(w, "!?") {
		return false
	}
	return true
}

// stageDirections are the transcripts' audience notes, e.g. "(Applause.)":
// they mark modern speeches and would leak the era.
var stageDirections = regexp.MustCompile(`\((Applause|Laughter|applause|laughter)[^)]*\)`)

// mailText returns a message's subject and body as plain text: headers
// dropped, MIME parts decoded, HTML tags removed, whitespace collapsed,
// truncated to maxMailChars.
func mailText(raw []byte) string {
	// The mbox "From " envelope line is not a header; net/mail would stop there.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	var subject, body string
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err == nil {
		subject = decodeHeader(msg.Header.Get("Subject"))
		body = partText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	} else {
		// Malformed headers: keep what follows the first blank line.
		s := string(raw)
		if i := strings.Index(s, "\n\n"); i >= 0 {
			s = s[i+2:]
		}
		body = toUTF8([]byte(s))
	}
	text := strings.Join(strings.Fields(subject+"\n"+body), " ")
	return truncate(text, maxMailChars)
}

func decodeHeader(s string) string {
	d := mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		return strings.NewReader(toUTF8(b)), err
	}}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// partText extracts readable text from one MIME entity, preferring
// text/plain alternatives over text/html.
func partText(contentType, encoding string, body io.Reader, depth int) string {
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil || contentType == "" {
		media = "text/plain"
	}
	if strings.HasPrefix(media, "multipart/") && params["boundary"] != "" && depth < 5 {
		mr := multipart.NewReader(body, params["boundary"])
		var plain, htmlText []string
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			ct := p.Header.Get("Content-Type")
			t := partText(ct, p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if strings.Contains(strings.ToLower(ct), "html") {
				htmlText = append(htmlText, t)
			} else {
				plain = append(plain, t)
			}
		}
		if media == "multipart/alternative" && len(plain) > 0 {
			return strings.Join(plain, "\n")
		}
		return strings.Join(append(plain, htmlText...), "\n")
	}
	if !strings.HasPrefix(media, "text/") && media != "message/rfc822" {
		return "" // attachments: images, zips, ...
	}
	b, _ := io.ReadAll(body)
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b))); err == nil || len(d) > 0 {
			b = d
		}
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, b)
		if d, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(clean))); err == nil || len(d) > 0 {
			b = d
		}
	}
	s := toUTF8(b)
	if media == "text/html" || strings.Contains(strings.ToLower(s[:min(len(s), 500)]), "<html") {
		s = stripHTML(s)
	}
	return s
}

var (
	htmlDropBlocks = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>`)
	htmlComments   = regexp.MustCompile(`(?s)<!--.*?-->`)
	htmlTags       = regexp.MustCompile(`(?s)<[^>]*>`)
)

func stripHTML(s string) string {
	s = htmlDropBlocks.ReplaceAllString(s, " ")
	s = htmlComments.ReplaceAllString(s, " ")
	s = htmlTags.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}

// toUTF8 keeps valid UTF-8 and reads anything else as Latin-1, the usual
// charset of these 2002 mails.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// truncate cuts s to at most n bytes at a word boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n+1], ' ')
	if cut < n/2 {
		cut = n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return s[:cut]
}
