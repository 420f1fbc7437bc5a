package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/exp/apidiff"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/tools/go/packages"
)

// publicPackages type-checks the module in dir (an unzipped module zip)
// and returns its public packages: every package that is neither a
// command (package main) nor under an internal folder, which no adopter
// can import. env is the go command's environment.
func publicPackages(dir, modPath string, env []string) (*apidiff.Module, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedTypesInfo | packages.NeedSyntax,
		Dir:  dir,
		Env:  env,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, fmt.Errorf("load the packages of %s: %w", dir, err)
	}
	m := &apidiff.Module{Path: modPath}
	var errs []string
	for _, p := range pkgs {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
		if p.Name == "main" || isInternal(p.PkgPath) {
			continue
		}
		m.Packages = append(m.Packages, p.Types)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("type-check %s: %s", dir, strings.Join(errs, "; "))
	}
	sort.Slice(m.Packages, func(i, j int) bool { return m.Packages[i].Path() < m.Packages[j].Path() })
	return m, nil
}

// isInternal reports whether path is an internal package, or under one.
func isInternal(path string) bool {
	return strings.HasSuffix(path, "/internal") || strings.Contains(path, "/internal/")
}

// packagePaths lists a module's packages' paths.
func packagePaths(m *apidiff.Module) []string {
	var ps []string
	for _, p := range m.Packages {
		ps = append(ps, p.Path())
	}
	return ps
}

// Bump is the least version change a set of API changes needs.
type Bump int

const (
	BumpPatch        Bump = iota // no change to the public API
	BumpMinor                    // compatible additions
	BumpIncompatible             // a removal or change an adopter's code can break on
)

// bumpFor returns what the report's changes need.
func bumpFor(r apidiff.Report) Bump {
	b := BumpPatch
	for _, c := range r.Changes {
		if !c.Compatible {
			return BumpIncompatible
		}
		b = BumpMinor
	}
	return b
}

// nextVersion is the least version after base that a change of kind b
// allows. An incompatible change needs a major bump from v1 on; in v0,
// where semantic versioning promises no compatibility, the rule is at
// least a minor bump.
func nextVersion(base string, b Bump) (string, error) {
	if !semver.IsValid(base) || semver.Prerelease(base) != "" || semver.Build(base) != "" {
		return "", fmt.Errorf("base version %q is not a release version such as v0.1.0", base)
	}
	var major, minor, patch int
	if _, err := fmt.Sscanf(semver.Canonical(base), "v%d.%d.%d", &major, &minor, &patch); err != nil {
		return "", fmt.Errorf("base version %q: %w", base, err)
	}
	switch {
	case b == BumpIncompatible && major > 0:
		return fmt.Sprintf("v%d.0.0", major+1), nil
	case b >= BumpMinor:
		return fmt.Sprintf("v%d.%d.0", major, minor+1), nil
	default:
		return fmt.Sprintf("v%d.%d.%d", major, minor, patch+1), nil
	}
}

// checkVersion checks the declared version against base and the changes:
// it must be a valid release version above base, at least next, and, for
// a new major version from v2 on, the module path must end in /vN.
func checkVersion(modPath, base, declared, next string) error {
	if !semver.IsValid(declared) || semver.Canonical(declared) != declared || semver.Prerelease(declared) != "" {
		return fmt.Errorf("declared version %q is not a canonical version such as v0.2.0", declared)
	}
	if semver.Compare(declared, base) <= 0 {
		return fmt.Errorf("declared version %s is not above the previous release %s", declared, base)
	}
	if semver.Compare(declared, next) < 0 {
		return fmt.Errorf("declared version %s is below %s, the least version the API changes since %s allow", declared, next, base)
	}
	if err := module.Check(modPath, declared); err != nil {
		return fmt.Errorf("declared version %s does not fit the module path: %w", declared, err)
	}
	return nil
}

// printReport prints the changes, incompatible first.
func printReport(r apidiff.Report) {
	if len(r.Changes) == 0 {
		fmt.Println("release-check: no change to the public API")
		return
	}
	if err := r.Text(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
