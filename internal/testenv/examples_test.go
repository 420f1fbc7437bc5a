package testenv

import (
	"flag"
	"testing"
)

func TestSkipExamplesJoinsTheSkipPattern(t *testing.T) {
	f := flag.Lookup("test.skip")
	saved := f.Value.String()
	t.Cleanup(func() { _ = flag.Set("test.skip", saved) })
	for _, tc := range []struct{ cur, want string }{
		{"", "^Example"},
		{"TestSlow", "(?:TestSlow)|^Example"},
	} {
		if err := flag.Set("test.skip", tc.cur); err != nil {
			t.Fatal(err)
		}
		if err := skipExamples(); err != nil {
			t.Fatalf("skipExamples with -test.skip %q: %v", tc.cur, err)
		}
		if got := f.Value.String(); got != tc.want {
			t.Errorf("-test.skip %q became %q, want %q", tc.cur, got, tc.want)
		}
	}
	if err := flag.Set("test.skip", "TestA/sub"); err != nil {
		t.Fatal(err)
	}
	if err := skipExamples(); err == nil {
		t.Errorf("skipExamples joined a pattern with levels: -test.skip is now %q", f.Value.String())
	}
}
