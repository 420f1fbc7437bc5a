package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// proxy is a module proxy in a folder, in the layout GOPROXY=file://<dir>
// reads: <dir>/<escaped module path>/@v/{list,<version>.info,.mod,.zip}.
type proxy struct {
	dir  string
	path string // the module's path
}

// versionDir is where the module's files go.
func (p proxy) versionDir() (string, error) {
	esc, err := module.EscapePath(p.path)
	if err != nil {
		return "", err
	}
	return filepath.Join(p.dir, filepath.FromSlash(esc), "@v"), nil
}

// zipPath is the version's zip in the proxy.
func (p proxy) zipPath(version string) (string, error) {
	d, err := p.versionDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, version+".zip"), nil
}

// add writes the version's .info, .mod and .zip (the zip through write)
// and rewrites the list with versions.
func (p proxy) add(version string, goMod []byte, write func(io.Writer) error, versions []string) (string, error) {
	d, err := p.versionDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	zipFile := filepath.Join(d, version+".zip")
	f, err := os.Create(zipFile)
	if err != nil {
		return "", err
	}
	if err := write(f); err != nil {
		f.Close()
		return "", fmt.Errorf("module zip %s@%s: %w", p.path, version, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d, version+".mod"), goMod, 0o644); err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d, version+".info"), info, 0o644); err != nil {
		return "", err
	}
	var list []byte
	for _, v := range versions {
		list = append(list, v+"\n"...)
	}
	return zipFile, os.WriteFile(filepath.Join(d, "list"), list, 0o644)
}

// worktreeFiles are the files of the working tree that a commit of it
// would hold (tracked, and untracked but not ignored), as zip input.
// modzip.Create leaves out what a module zip may not hold (nested modules
// such as examples/adopter, vendor folders, symbolic links).
func worktreeFiles(root string) ([]modzip.File, error) {
	paths, err := trackedFiles(root, true)
	if err != nil {
		return nil, err
	}
	files := make([]modzip.File, 0, len(paths))
	for _, p := range paths {
		full := filepath.Join(root, p)
		info, err := os.Lstat(full)
		if err != nil {
			return nil, err
		}
		files = append(files, diskFile{slash: filepath.ToSlash(p), full: full, info: info})
	}
	return files, nil
}

// diskFile is a file of the working tree, as modzip.File.
type diskFile struct {
	slash, full string
	info        os.FileInfo
}

func (f diskFile) Path() string                 { return f.slash }
func (f diskFile) Lstat() (os.FileInfo, error)  { return f.info, nil }
func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(f.full) }

// checkZip returns the zip's size and one line per file in it that breaks
// the repository's file rule (checkContent).
func checkZip(zipFile string) (int64, []string, error) {
	st, err := os.Stat(zipFile)
	if err != nil {
		return 0, nil, err
	}
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return 0, nil, err
	}
	defer zr.Close()
	var bad []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return 0, nil, err
		}
		why, err := checkReader(int64(f.UncompressedSize64), rc)
		rc.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if why != "" {
			bad = append(bad, f.Name+" "+why)
		}
	}
	return st.Size(), bad, nil
}

// gitShow returns a file's content at a commit.
func gitShow(root, commit, path string) ([]byte, error) {
	out, err := exec.Command("git", "-C", root, "show", commit+":"+path).Output()
	if err != nil {
		return nil, fmt.Errorf("git show %s:%s: %w", commit, path, exitDetail(err))
	}
	return out, nil
}

// gitArchive writes the tree of a commit into dir (git archive), which
// works in a worktree too, where .git is a file.
func gitArchive(root, commit, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	if err := archive.Start(); err != nil {
		return err
	}
	out, uerr := untar.CombinedOutput()
	if err := archive.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", commit, err, stderr.String())
	}
	if uerr != nil {
		return fmt.Errorf("tar -x: %w: %s", uerr, out)
	}
	return nil
}
