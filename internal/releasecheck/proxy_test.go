package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// A repository with a tracked source file, a tracked file over the limit,
// an untracked executable, an ignored executable and a nested module with
// an executable: checkFiles names the tracked large file and executable;
// the zip holds what a commit of the working tree would, less the nested
// module, and checkZip names the untracked executable and the large file.
func TestWorktreeZip(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed:", err)
	}
	root := t.TempDir()
	elf := append([]byte{0x7f, 'E', 'L', 'F'}, make([]byte, 64)...)
	write := func(p string, b []byte) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", []byte("module example.com/m\n\ngo 1.25\n"))
	write("m.go", []byte("package m\n"))
	write("big.txt", []byte(strings.Repeat("x", MaxFileSize+1)))
	write(".gitignore", []byte("/ignored-tool\n"))
	write("ignored-tool", elf)
	write("nested/go.mod", []byte("module example.com/m/nested\n"))
	write("nested/tool", elf)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "x")
	write("cmd/tool", elf) // untracked, not ignored: a commit of the tree would take it

	bad, n, err := checkFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	// The repository's rule covers the nested module too; the untracked and
	// ignored tools are not tracked.
	sort.Strings(bad)
	if len(bad) != 2 || !strings.HasPrefix(bad[0], "big.txt is ") || !strings.HasPrefix(bad[1], "nested/tool is an ELF executable") {
		t.Errorf("checkFiles of %d tracked files = %q, want big.txt and nested/tool", n, bad)
	}

	files, err := worktreeFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	px := proxy{dir: filepath.Join(t.TempDir(), "proxy"), path: "example.com/m"}
	zipFile, err := px.add("v0.1.0", []byte("module example.com/m\n"), func(w io.Writer) error {
		return modzip.Create(w, module.Version{Path: "example.com/m", Version: "v0.1.0"}, files)
	}, []string{"v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"list", "v0.1.0.info", "v0.1.0.mod", "v0.1.0.zip"} {
		if _, err := os.Stat(filepath.Join(px.dir, "example.com", "m", "@v", f)); err != nil {
			t.Errorf("the proxy lacks %s: %v", f, err)
		}
	}
	_, bad, err = checkZip(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	want := []string{"example.com/m@v0.1.0/big.txt is ", "example.com/m@v0.1.0/cmd/tool is an ELF executable"}
	if len(bad) != len(want) {
		t.Fatalf("checkZip = %q, want %d findings: %q", bad, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(bad[i], want[i]) {
			t.Errorf("finding %d = %q, want it to start with %q", i, bad[i], want[i])
		}
	}
}
