// Command releasecheck checks that the module can ship (issue 24). It is a
// module of its own, so that golang.org/x/mod, x/exp and x/tools, which
// only this tool needs, never reach the requirements of the SDK's adopters
// (a nested module is left out of the SDK's module zip).
//
//	releasecheck files [-root dir]
//
// fails when a file git tracks is an executable (ELF, Mach-O or PE, told
// by its first bytes) or larger than 1 MB, naming each such file and why.
// make check-files runs it, first in make test.
//
//	releasecheck release [flags]
//
// builds the module zip of the working tree for the version declared in
// VERSION, and the previous release's from its commit, into a module proxy
// in a folder; checks the zip's size and files; compares the public API
// with the previous release's (golang.org/x/exp/apidiff) and fails when the
// declared version is below what the changes need, printing the least
// version they allow; then, unless -consumer is empty, builds, vets and
// runs a module that requires the SDK at that version through the proxy,
// with no replace (consumer.go). make release-check runs it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/exp/apidiff"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: releasecheck files|release [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "files":
		err = filesCmd(os.Args[2:])
	case "release":
		err = releaseCmd(context.Background(), os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want files or release", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "releasecheck:", err)
		os.Exit(1)
	}
}

func filesCmd(args []string) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bad, n, err := checkFiles(*root)
	if err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintln(os.Stderr, "check-files:", b)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d tracked files may not be in the repository (above)", len(bad), n)
	}
	fmt.Printf("check-files: %d tracked files, none an executable or over %d bytes\n", n, MaxFileSize)
	return nil
}

func releaseCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root (the module's folder)")
	out := fs.String("out", "", "the folder of the module proxy to write (required)")
	versionFile := fs.String("version-file", "VERSION", "the file, relative to -root, that declares the version being released")
	base := fs.String("base", "", "the previous release's version, such as v0.1.0 (required)")
	baseCommit := fs.String("base-commit", "", "the commit the previous release is (required)")
	maxZip := fs.Int64("max-zip", 4<<20, "the largest module zip allowed, in bytes")
	consumer := fs.String("consumer", "", "the folder of a program to build, vet and run as a module requiring this one (its *.go files and its go.mod's requirements are copied); empty: skip")
	run := fs.String("run", "", "the tests of -consumer to run (go test -run; empty: all, as make test-adopter runs them), which run the program against the servers USERSTREAM_* name; at least one must pass")
	keep := fs.Bool("keep", false, "keep the temporary folder (the unzipped modules, the consumer module and its module cache) and print its path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *base == "" || *baseCommit == "" {
		return fmt.Errorf("-out, -base and -base-commit are required")
	}
	rootAbs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	outAbs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(rootAbs, *versionFile))
	if err != nil {
		return fmt.Errorf("the declared version: %w", err)
	}
	version := strings.TrimSpace(string(raw))
	goMod, err := os.ReadFile(filepath.Join(rootAbs, "go.mod"))
	if err != nil {
		return err
	}
	modPath := modulePath(goMod)
	if modPath == "" {
		return fmt.Errorf("no module line in %s/go.mod", rootAbs)
	}
	fmt.Printf("release-check: %s %s (declared in %s), previous release %s (commit %s)\n", modPath, version, *versionFile, *base, *baseCommit)

	// A fresh proxy each time: the list holds the two versions checked.
	if err := os.RemoveAll(outAbs); err != nil {
		return err
	}
	px := proxy{dir: outAbs, path: modPath}
	versions := []string{*base, version}

	files, err := worktreeFiles(rootAbs)
	if err != nil {
		return err
	}
	zipFile, err := px.add(version, goMod, func(w io.Writer) error {
		return modzip.Create(w, module.Version{Path: modPath, Version: version}, files)
	}, versions)
	if err != nil {
		return err
	}
	size, bad, err := checkZip(zipFile)
	if err != nil {
		return err
	}
	fmt.Printf("release-check: module zip %s: %d bytes (%.1f MB; limit %d bytes)\n", zipFile, size, float64(size)/(1<<20), *maxZip)
	for _, b := range bad {
		fmt.Fprintln(os.Stderr, "release-check: in the module zip:", b)
	}
	if len(bad) > 0 {
		return fmt.Errorf("the module zip holds %d file(s) it may not (above)", len(bad))
	}
	if size > *maxZip {
		return fmt.Errorf("the module zip is %d bytes, over the %d-byte limit: look for large files with unzip -l %s", size, *maxZip, zipFile)
	}

	// The previous release, from its commit (git archive), not from a tag,
	// which a clone may not have fetched.
	baseMod, err := gitShow(rootAbs, *baseCommit, "go.mod")
	if err != nil {
		return fmt.Errorf("the previous release's commit (a shallow clone lacks it: git fetch --unshallow): %w", err)
	}
	tmp, err := os.MkdirTemp("", "releasecheck-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Printf("release-check: kept %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	baseTree := filepath.Join(tmp, "base-tree")
	if err := gitArchive(rootAbs, *baseCommit, baseTree); err != nil {
		return err
	}
	baseZip, err := px.add(*base, baseMod, func(w io.Writer) error {
		return modzip.CreateFromDir(w, module.Version{Path: modPath, Version: *base}, baseTree)
	}, versions)
	if err != nil {
		return err
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	oldDir, newDir := filepath.Join(tmp, "old"), filepath.Join(tmp, "new")
	if err := modzip.Unzip(oldDir, module.Version{Path: modPath, Version: *base}, baseZip); err != nil {
		return err
	}
	if err := modzip.Unzip(newDir, module.Version{Path: modPath, Version: version}, zipFile); err != nil {
		return err
	}
	oldAPI, err := publicPackages(oldDir, modPath, env)
	if err != nil {
		return err
	}
	newAPI, err := publicPackages(newDir, modPath, env)
	if err != nil {
		return err
	}
	fmt.Printf("release-check: public packages: %d in %s, %d in %s\n", len(oldAPI.Packages), *base, len(newAPI.Packages), version)
	report := apidiff.ModuleChanges(oldAPI, newAPI)
	printReport(report)
	next, err := nextVersion(*base, bumpFor(report))
	if err != nil {
		return err
	}
	fmt.Printf("release-check: suggested next version: %s (the least the changes since %s allow)\n", next, *base)
	if err := checkVersion(modPath, *base, version, next); err != nil {
		return fmt.Errorf("%w; declare %s or later in %s", err, next, *versionFile)
	}

	if *consumer == "" {
		fmt.Println("release-check: no consumer module (-consumer empty)")
		return nil
	}
	return runConsumer(ctx, consumerConfig{
		src:     filepath.Join(rootAbs, *consumer),
		dir:     filepath.Join(tmp, "consumer"),
		modPath: modPath,
		version: version,
		proxy:   outAbs,
		run:     *run,
	})
}

// modulePath returns the path of a go.mod's module line.
func modulePath(goMod []byte) string {
	for _, line := range bytes.Split(goMod, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// goCmd runs the go command in dir with env, its output on ours.
func goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	fmt.Printf("release-check: (in %s) go %s\n", dir, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}
