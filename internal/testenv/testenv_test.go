package testenv

import (
	"regexp"
	"testing"
)

func TestNameIsAValidIdentifier(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	a, b := Name(t, "Users-Created.Topic"), Name(t, "Users-Created.Topic")
	for _, n := range []string{a, b} {
		if !valid.MatchString(n) {
			t.Errorf("Name = %q, not a lower-case identifier of at most 48 characters", n)
		}
	}
	if a == b {
		t.Errorf("two calls gave the same name %q", a)
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("splitList = %q", got)
	}
}
