package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// consumerConfig says what runConsumer builds and where.
type consumerConfig struct {
	src     string // the program's folder (examples/adopter)
	dir     string // the consumer module's folder, created
	modPath string // the SDK's module path
	version string // the SDK's version, in the proxy
	proxy   string // the module proxy's folder
	run     string // go test -run pattern for the real run
}

// runConsumer makes a module of the program in c.src that requires the SDK
// as an adopter does: its *.go files (its tests too: the test is what knows
// how to run the program against the servers, and it changes with it) and
// its go.mod's requirements and go.sum lines, but no replace, and the SDK
// at c.version, fetched with `go get` through the proxy in c.proxy first,
// then the go command's usual GOPROXY for every other module. The checksum
// database is not asked about the SDK (GONOSUMDB), which it does not know
// yet. A module cache of its own, seeded from the usual one's download
// folder, so that a zip of the same version built earlier is never reused.
// Then go build, go vet, the requirement figures, and the run.
func runConsumer(ctx context.Context, c consumerConfig) error {
	srcMod, err := os.ReadFile(filepath.Join(c.src, "go.mod"))
	if err != nil {
		return err
	}
	mf, err := modfile.Parse("go.mod", srcMod, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	n, err := copyGoFiles(c.src, c.dir)
	if err != nil {
		return err
	}
	fmt.Printf("release-check: consumer module %s in %s: %d .go files of %s\n", mf.Module.Mod.Path, c.dir, n, c.src)

	out := &modfile.File{}
	if err := out.AddModuleStmt(mf.Module.Mod.Path); err != nil {
		return err
	}
	if mf.Go != nil {
		if err := out.AddGoStmt(mf.Go.Version); err != nil {
			return err
		}
	}
	for _, r := range mf.Require {
		if r.Mod.Path == c.modPath {
			continue
		}
		out.AddNewRequire(r.Mod.Path, r.Mod.Version, r.Indirect)
	}
	out.Cleanup()
	goMod, err := out.Format()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "go.mod"), goMod, 0o644); err != nil {
		return err
	}
	if err := copySums(filepath.Join(c.src, "go.sum"), filepath.Join(c.dir, "go.sum"), c.modPath); err != nil {
		return err
	}

	usual, err := goEnv("GOPROXY")
	if err != nil {
		return err
	}
	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return err
	}
	modCache := filepath.Join(filepath.Dir(c.dir), "modcache")
	env := append(withoutGoEnv(os.Environ()),
		"GOPROXY=file://"+filepath.ToSlash(c.proxy)+",file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download"))+","+usual,
		"GONOSUMDB="+c.modPath,
		"GOMODCACHE="+modCache,
		// -trimpath: the compiled packages do not name the module cache's
		// folder, so the build cache serves them again on the next run.
		"GOFLAGS=-mod=mod -modcacherw -trimpath",
		"GOWORK=off",
	)
	// The module cache of its own goes with the temporary folder (written
	// with -modcacherw, so that it can be removed).

	if err := goCmd(ctx, c.dir, env, "get", c.modPath+"@"+c.version); err != nil {
		return err
	}
	if err := goCmd(ctx, c.dir, env, "mod", "tidy"); err != nil {
		return err
	}
	final, err := os.ReadFile(filepath.Join(c.dir, "go.mod"))
	if err != nil {
		return err
	}
	fm, err := modfile.Parse("go.mod", final, nil)
	if err != nil {
		return err
	}
	if len(fm.Replace) > 0 {
		return fmt.Errorf("the consumer module has a replace: %s", final)
	}
	found := false
	for _, r := range fm.Require {
		if r.Mod.Path == c.modPath {
			found = r.Mod.Version == c.version
			fmt.Printf("release-check: the consumer requires %s %s\n", r.Mod.Path, r.Mod.Version)
		}
	}
	if !found {
		return fmt.Errorf("the consumer's go.mod does not require %s %s:\n%s", c.modPath, c.version, final)
	}
	if err := goCmd(ctx, c.dir, env, "build", "./..."); err != nil {
		return err
	}
	if err := goCmd(ctx, c.dir, env, "vet", "./..."); err != nil {
		return err
	}
	if err := printGraph(ctx, c.dir, env, fm); err != nil {
		return err
	}
	// The tests make test-adopter runs (go test ./..., the secured ones
	// being behind a build tag), unless c.run narrows them. At least one
	// must run and pass: a renamed test or a pattern that matches none is
	// a failure, not a silent "no tests to run".
	args := []string{"test", "-v", "-count=1", "-timeout", "10m"}
	if c.run != "" {
		args = append(args, "-run", c.run)
	}
	var testOut bytes.Buffer
	fmt.Printf("release-check: (in %s) go %s ./...\n", c.dir, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", append(args, "./...")...)
	cmd.Dir, cmd.Env = c.dir, env
	cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &testOut), os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the consumer's tests: %w", err)
	}
	passed := bytes.Count(testOut.Bytes(), []byte("--- PASS: "))
	if passed == 0 {
		return fmt.Errorf("no test of the consumer module ran (go %s): the program was not run", strings.Join(args, " "))
	}
	fmt.Printf("release-check: ok: %s@%s from the module proxy builds, vets and passes %d test(s) against the servers in a module with no replace\n", c.modPath, c.version, passed)
	return nil
}

// printGraph prints what the consumer resolves: its direct requirements,
// the edges of its module graph and the modules in its build list.
func printGraph(ctx context.Context, dir string, env []string, fm *modfile.File) error {
	var direct []string
	for _, r := range fm.Require {
		if !r.Indirect {
			direct = append(direct, r.Mod.String())
		}
	}
	fmt.Printf("release-check: the consumer's direct requirements (%d): %s\n", len(direct), strings.Join(direct, " "))
	for _, args := range [][]string{{"mod", "graph"}, {"list", "-m", "all"}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		fmt.Printf("release-check: the consumer's go %s: %d lines\n", strings.Join(args, " "), bytes.Count(b, []byte("\n")))
	}
	return nil
}

// copyGoFiles copies the .go files under src into dst, in the same
// folders, and returns how many.
func copyGoFiles(src, dst string) (int, error) {
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		n++
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	return n, err
}

// copySums copies the go.sum lines of every module but modPath.
func copySums(src, dst, modPath string) error {
	f, err := os.Open(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), modPath+" ") {
			continue
		}
		out.WriteString(sc.Text() + "\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return os.WriteFile(dst, out.Bytes(), 0o644)
}

// goEnv returns a variable as the go command sees it.
func goEnv(name string) (string, error) {
	b, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, exitDetail(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// withoutGoEnv drops the variables runConsumer sets, and those that would
// send the SDK's path around the proxy (GOPRIVATE, GONOPROXY).
func withoutGoEnv(env []string) []string {
	drop := map[string]bool{"GOPROXY": true, "GONOSUMDB": true, "GOMODCACHE": true, "GOFLAGS": true,
		"GOWORK": true, "GOPRIVATE": true, "GONOPROXY": true}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			out = append(out, kv)
		}
	}
	return out
}
