package testrows

import "testing"

func TestRowsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rows(1000) {
		if err := r.Validate(); err != nil {
			t.Fatalf("row %+v: %v", r, err)
		}
		if seen[r.ID] {
			t.Fatalf("id %s twice", r.ID)
		}
		seen[r.ID] = true
	}
}
