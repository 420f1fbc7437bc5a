package devstack

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The Maven projects: kafka/ and cassandra/ resolve a server and its
// runtime dependencies; registry/ builds the schema registry's runner (see
// each pom.xml for why each piece is there). Embedded, so that the command
// carries them: they are written under DIR/maven before Maven runs.
//
//go:embed kafka/pom.xml cassandra/pom.xml registry
var mavenFS embed.FS

// writeProject copies the embedded project name into DIR/maven/name and
// returns its pom.xml.
func (s *Stack) writeProject(name string) (string, error) {
	dst := filepath.Join(s.cfg.Dir, "maven", name)
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	err := fs.WalkDir(mavenFS, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dst, strings.TrimPrefix(p, name))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := mavenFS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	return filepath.Join(dst, "pom.xml"), err
}

func needMaven() error {
	if _, err := exec.LookPath("mvn"); err != nil {
		return errors.New("mvn not found: install Maven (apt-get install maven)")
	}
	return nil
}

// classpath resolves the Maven artifacts of name (kafka or cassandra) once
// per version, into DIR/name/lib (DIR/name/lib/.version says which).
// Maven caches downloads in its local repository, so a removed stack
// folder is rebuilt without network too.
func (s *Stack) classpath(name, version string) (string, error) {
	lib := filepath.Join(s.cfg.Dir, name, "lib")
	if b, err := os.ReadFile(filepath.Join(lib, ".version")); err == nil && strings.TrimSpace(string(b)) == version {
		return lib, nil
	}
	if err := needMaven(); err != nil {
		return "", err
	}
	s.logf("resolving %s %s and its runtime dependencies with Maven", name, version)
	if err := os.RemoveAll(lib); err != nil {
		return "", err
	}
	pom, err := s.writeProject(name)
	if err != nil {
		return "", err
	}
	logPath := filepath.Join(s.cfg.Dir, name+"-maven.log")
	if err := s.maven(logPath, "-q", "-B", "-f", pom, "dependency:copy-dependencies",
		"-DoutputDirectory="+lib, "-DincludeScope=runtime"); err != nil {
		return "", fmt.Errorf("Maven could not resolve %s %s (log: %s)%w", name, version, logPath, err)
	}
	return lib, os.WriteFile(filepath.Join(lib, ".version"), []byte(version+"\n"), 0o644)
}

// maven runs mvn with its output in logPath; on failure the error carries
// the log's last lines.
func (s *Stack) maven(logPath string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("mvn", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		t, _ := tail(logPath, 30)
		return &logError{err: err, tail: t}
	}
	return nil
}

// logError is a failure whose log's last lines follow the message.
type logError struct {
	err  error
	tail string
}

func (e *logError) Error() string { return ":\n" + e.tail + e.err.Error() }
func (e *logError) Unwrap() error { return e.err }

// registryStamp names the registry build: the Apicurio version and a hash
// of the runner project's files (pom.xml, then src/ in path order), the
// same stamp the shell supervisor wrote, so an existing build is kept.
func registryStamp() (string, error) {
	h := sha256.New()
	b, err := mavenFS.ReadFile("registry/pom.xml")
	if err != nil {
		return "", err
	}
	h.Write(b)
	var files []string
	err = fs.WalkDir(mavenFS, "registry/src", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := mavenFS.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return ApicurioVersion + " " + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// registryBuild builds the registry's Quarkus application into
// DIR/registry/app, once per stamp. -DskipDefault turns off the parent
// POM's extra repositories (registry/pom.xml).
func (s *Stack) registryBuild() error {
	r := s.reg.Dir
	stamp, err := registryStamp()
	if err != nil {
		return err
	}
	app := filepath.Join(r, "app")
	if b, err := os.ReadFile(filepath.Join(app, ".version")); err == nil && strings.TrimSpace(string(b)) == stamp {
		return nil
	}
	if err := needMaven(); err != nil {
		return err
	}
	s.logf("building the schema registry (Apicurio Registry %s) with Maven", ApicurioVersion)
	build := filepath.Join(r, "build")
	for _, d := range []string{build, app} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(r, 0o755); err != nil {
		return err
	}
	pom, err := s.writeProject("registry")
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.cfg.Dir, "registry-maven.log")
	if err := s.maven(logPath, "-B", "-DskipDefault", "-DbuildDir="+build, "-f", pom, "package"); err != nil {
		return fmt.Errorf("Maven could not build the registry (log: %s)%w", logPath, err)
	}
	if err := os.MkdirAll(app, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(build, "registry-runtime-1-runner.jar"), filepath.Join(app, "registry.jar")); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(build, "lib"), filepath.Join(app, "lib")); err != nil {
		return err
	}
	if err := os.RemoveAll(build); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(app, ".version"), []byte(stamp+"\n"), 0o644)
}
