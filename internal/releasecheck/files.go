package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MaxFileSize is the largest file the repository and the module zip may
// hold: above it, a file is build output, a data dump or a capture that
// belongs elsewhere (every adopter's `go get` downloads the module zip).
const MaxFileSize = 1 << 20

// magics are the first bytes of the executable formats a `go build` can
// write: ELF (Linux, BSD), Mach-O (32 and 64 bit, both byte orders, and
// the universal "fat" header, which Java class files share) and PE (the MZ
// header of Windows programs). Read from the file's bytes, not from the
// `file` command, which a fresh machine may lack.
var magics = []struct {
	name  string
	magic []byte
}{
	{"an ELF executable", []byte{0x7f, 'E', 'L', 'F'}},
	{"a Mach-O executable", []byte{0xfe, 0xed, 0xfa, 0xce}},
	{"a Mach-O executable", []byte{0xfe, 0xed, 0xfa, 0xcf}},
	{"a Mach-O executable", []byte{0xce, 0xfa, 0xed, 0xfe}},
	{"a Mach-O executable", []byte{0xcf, 0xfa, 0xed, 0xfe}},
	{"a Mach-O universal binary", []byte{0xca, 0xfe, 0xba, 0xbe}},
	{"a PE (Windows) executable", []byte{'M', 'Z'}},
}

// checkContent returns why a file of the given size, whose content starts
// with head (its first bytes, at least 4 when it has them), may not be in
// the repository or the module zip, or "" when it may.
func checkContent(size int64, head []byte) string {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return fmt.Sprintf("is %s (magic bytes % x): build output, not source; remove it from git (git rm --cached) and name it in .gitignore", m.name, m.magic)
		}
	}
	if size > MaxFileSize {
		return fmt.Sprintf("is %d bytes, over the %d-byte limit: keep large files out of the module, which every adopter downloads", size, int64(MaxFileSize))
	}
	return ""
}

// checkReader reads the head of r and checks it with size.
func checkReader(size int64, r io.Reader) (string, error) {
	head := make([]byte, 4)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	return checkContent(size, head[:n]), nil
}

// trackedFiles lists the files git tracks under root, plus, when untracked
// is set, the untracked ones .gitignore does not exclude (what `git add -A`
// would commit), with their paths relative to root. Tracked files deleted
// in the working tree are left out.
func trackedFiles(root string, untracked bool) ([]string, error) {
	args := []string{"-C", root, "ls-files", "-z", "--cached"}
	if untracked {
		args = append(args, "--others", "--exclude-standard")
	}
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", root, exitDetail(err))
	}
	var files []string
	seen := map[string]bool{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		if _, err := os.Lstat(filepath.Join(root, p)); os.IsNotExist(err) {
			continue
		}
		files = append(files, p)
	}
	return files, nil
}

// checkFiles checks every file git tracks under root and returns one line
// per file that fails, naming it and saying why.
func checkFiles(root string) ([]string, int, error) {
	files, err := trackedFiles(root, false)
	if err != nil {
		return nil, 0, err
	}
	var bad []string
	for _, p := range files {
		full := filepath.Join(root, p)
		info, err := os.Lstat(full)
		if err != nil {
			return nil, 0, err
		}
		if !info.Mode().IsRegular() {
			continue // a symbolic link or a submodule: no content of its own
		}
		f, err := os.Open(full)
		if err != nil {
			return nil, 0, err
		}
		why, err := checkReader(info.Size(), f)
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", p, err)
		}
		if why != "" {
			bad = append(bad, p+" "+why)
		}
	}
	return bad, len(files), nil
}

// exitDetail adds a failed command's standard error to its error.
func exitDetail(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
