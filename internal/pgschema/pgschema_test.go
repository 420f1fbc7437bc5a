package pgschema

import "testing"

// Processes of different builds that migrate one schema must take the same
// lock, so the key may never change: it is pinned here.
func TestLockKeyIsStable(t *testing.T) {
	if got, want := LockKey("userstream"), int64(6428796105433928533); got != want {
		t.Fatalf("LockKey(%q) = %d, want %d: the key changed, and an older build would migrate beside a newer one unserialized", "userstream", got, want)
	}
	if LockKey("a") == LockKey("b") {
		t.Fatal("two schemas share a lock key")
	}
}
