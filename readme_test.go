package userstream_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The README's "Use it in your service" code is the serve function of
// example_service_test.go, which `go test` compiles: a usage typed by hand
// into the README drifts from the API (it once called a relay's Run and then
// the consumer's, so the consumer never ran). The README marks the block with
// <!-- snippet: service --> before its ```go fence; the Go file marks the
// region with a "// snippet: service" line and a "// snippet: end" line.
func TestReadmeServiceSnippet(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("example_service_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSnippet(string(readme), string(source), "service"); err != nil {
		t.Error(err)
	}
}

// The check itself must fail when the two differ, or the test above proves
// nothing: a changed line, a missing line and a missing marker each fail it,
// and indentation alone does not.
func TestCheckSnippetFailsOnDrift(t *testing.T) {
	source := "package p\n\n// snippet: s\nfunc f() error {\n\treturn nil\n}\n\n// snippet: end\n"
	readme := "# p\n\n<!-- snippet: s -->\n```go\nfunc f() error {\n\treturn nil\n}\n```\n"
	if err := checkSnippet(readme, source, "s"); err != nil {
		t.Fatalf("the same code: %v", err)
	}
	if err := checkSnippet(strings.ReplaceAll(readme, "\t", "    "), source, "s"); err != nil {
		t.Errorf("only the indentation differs: %v", err)
	}
	for name, bad := range map[string]string{
		"changed line":   strings.Replace(readme, "return nil", "return errors.New(\"x\")", 1),
		"missing line":   strings.Replace(readme, "\treturn nil\n", "", 1),
		"extra line":     strings.Replace(readme, "}\n```", "}\nfunc g() {}\n```", 1),
		"missing marker": strings.Replace(readme, "<!-- snippet: s -->", "", 1),
	} {
		if err := checkSnippet(bad, source, "s"); err == nil {
			t.Errorf("%s: the check passed", name)
		}
	}
}

// checkSnippet returns an error unless the Go block after the README's
// <!-- snippet: name --> marker holds the same lines as the region of the Go
// source between "// snippet: name" and "// snippet: end", compared with
// every run of white space in a line taken as one space and the blank lines
// dropped: gofmt's alignment and a Markdown editor's tabs do not count.
func checkSnippet(readme, source, name string) error {
	marker := "<!-- snippet: " + name + " -->"
	_, after, ok := strings.Cut(readme, marker)
	if !ok {
		return fmt.Errorf("README.md has no %s marker", marker)
	}
	after = strings.TrimLeft(after, " \t\r\n")
	body, ok := strings.CutPrefix(after, "```go\n")
	if !ok {
		return fmt.Errorf("README.md: %s is not followed by a ```go block", marker)
	}
	block, _, ok := strings.Cut(body, "\n```")
	if !ok {
		return fmt.Errorf("README.md: the block after %s is not closed", marker)
	}
	_, region, ok := strings.Cut(source, "\n// snippet: "+name+"\n")
	if !ok {
		return fmt.Errorf("the Go source has no // snippet: %s line", name)
	}
	region, _, ok = strings.Cut(region, "\n// snippet: end\n")
	if !ok {
		return fmt.Errorf("the Go source has no // snippet: end line after // snippet: %s", name)
	}
	want, got := codeLines(region), codeLines(block)
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Errorf("the README's %q block differs from the compiled code at its line %d (of its non-blank lines):\n README: %s\n Go:     %s\ncopy the region of the Go file between the snippet markers into the README", name, i+1, g, w)
		}
	}
	return nil
}

func codeLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return lines
}

// docs/testing.md shows fragments of the packages' Examples, which go test
// compiles and runs: each of its Go blocks must be lines of one _test.go
// file of the packages (not of examples/), in order (white space normalized as above), so that
// the page cannot show an API that does not exist.
func TestTestingPageFragmentsAreFromExamples(t *testing.T) {
	page, err := os.ReadFile("docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	var tests []string
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || path == "examples") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tests = append(tests, path+"\n"+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(page))
	if len(blocks) == 0 {
		t.Fatal("docs/testing.md has no Go block: is the parsing right?")
	}
	for _, block := range blocks {
		if !slices.ContainsFunc(tests, func(file string) bool { return inOrder(codeLines(file), codeLines(block)) }) {
			t.Errorf("docs/testing.md shows code that is in no _test.go file, in this order:\n%s", block)
		}
	}
}

// goBlocks returns the bodies of the ```go blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for {
		_, after, ok := strings.Cut(md, "```go\n")
		if !ok {
			return blocks
		}
		block, rest, ok := strings.Cut(after, "\n```")
		if !ok {
			return blocks
		}
		blocks = append(blocks, block)
		md = rest
	}
}

// inOrder reports whether want is a subsequence of have.
func inOrder(have, want []string) bool {
	i := 0
	for _, l := range have {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	return i == len(want)
}
