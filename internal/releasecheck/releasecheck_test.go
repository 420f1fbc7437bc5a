package main

import (
	"strings"
	"testing"

	"golang.org/x/exp/apidiff"
)

func TestCheckContent(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		head []byte
		want string // a part of the reason; "" for a file that may stay
	}{
		{"Go source", 100, []byte("pack"), ""},
		{"empty", 0, nil, ""},
		{"short", 1, []byte("M"), ""},
		{"ELF", 100, []byte{0x7f, 'E', 'L', 'F'}, "ELF executable"},
		{"Mach-O 64", 100, []byte{0xcf, 0xfa, 0xed, 0xfe}, "Mach-O executable"},
		{"Mach-O fat", 100, []byte{0xca, 0xfe, 0xba, 0xbe}, "Mach-O universal"},
		{"PE", 100, []byte("MZ\x90\x00"), "PE (Windows)"},
		{"at the limit", MaxFileSize, []byte("text"), ""},
		{"over the limit", MaxFileSize + 1, []byte("text"), "over the 1048576-byte limit"},
	} {
		got := checkContent(tc.size, tc.head)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: checkContent = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNextVersion(t *testing.T) {
	incompatible := apidiff.Report{Changes: []apidiff.Change{{Message: "F: removed"}, {Message: "G: added", Compatible: true}}}
	compatible := apidiff.Report{Changes: []apidiff.Change{{Message: "G: added", Compatible: true}}}
	for _, tc := range []struct {
		base   string
		report apidiff.Report
		want   string
	}{
		{"v0.1.0", apidiff.Report{}, "v0.1.1"},
		{"v0.1.0", compatible, "v0.2.0"},
		{"v0.1.0", incompatible, "v0.2.0"}, // v0: a minor bump
		{"v1.4.2", apidiff.Report{}, "v1.4.3"},
		{"v1.4.2", compatible, "v1.5.0"},
		{"v1.4.2", incompatible, "v2.0.0"},
	} {
		got, err := nextVersion(tc.base, bumpFor(tc.report))
		if err != nil || got != tc.want {
			t.Errorf("nextVersion(%s, %v) = %q, %v; want %q", tc.base, tc.report.Changes, got, err, tc.want)
		}
	}
	if _, err := nextVersion("v0.1.0-rc.1", BumpPatch); err == nil {
		t.Error("nextVersion accepted a prerelease base")
	}
}

func TestCheckVersion(t *testing.T) {
	const path = "github.com/userstream/userstream"
	for _, tc := range []struct {
		declared, next string
		ok             bool
	}{
		{"v0.2.0", "v0.2.0", true},
		{"v0.3.0", "v0.2.0", true},
		{"v0.1.1", "v0.2.0", false}, // an incompatible change with a patch bump
		{"v0.1.0", "v0.1.1", false}, // not above the previous release
		{"v0.2", "v0.2.0", false},   // not canonical
		{"v2.0.0", "v0.2.0", false}, // v2 needs the path to end in /v2
	} {
		err := checkVersion(path, "v0.1.0", tc.declared, tc.next)
		if (err == nil) != tc.ok {
			t.Errorf("checkVersion(%s, next %s) = %v, want ok %v", tc.declared, tc.next, err, tc.ok)
		}
	}
}
