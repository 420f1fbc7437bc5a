package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxWiringLines is the budget of issue 23: the whole service in at most
// 200 lines of wiring.
const maxWiringLines = 200

// TestWiringLines counts the program's wiring lines, as issue 23 counts
// them: every line of its non-test .go files but the import block, blank
// lines and comment lines (those whose first non-blank characters are //).
func TestWiringLines(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := wiringLines(string(b))
		t.Logf("%s: %d wiring lines", f, n)
		total += n
	}
	if total == 0 || total > maxWiringLines {
		t.Errorf("%d wiring lines, want 1 to %d", total, maxWiringLines)
	}
}

// wiringLines counts src's lines that are neither blank, nor a comment, nor
// in an import declaration.
func wiringLines(src string) int {
	n, inImport := 0, false
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case inImport:
			inImport = line != ")"
		case line == "import (":
			inImport = true
		case line == "", strings.HasPrefix(line, "//"), strings.HasPrefix(line, "import "):
		default:
			n++
		}
	}
	return n
}

func TestWiringLinesCount(t *testing.T) {
	src := "// Package doc.\npackage main\n\nimport (\n\t\"fmt\"\n)\n\nimport \"os\"\n\n// f does.\nfunc f() {\n\tfmt.Println(os.Args) // why\n}\n"
	if got := wiringLines(src); got != 4 {
		t.Errorf("wiringLines = %d, want 4 (package, func, call, brace)", got)
	}
}
