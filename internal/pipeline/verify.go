package pipeline

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/userstream/userstream/transform"
)

// IDSet is a set of UUIDs held as 16 bytes each, so that verifying a run
// of 100,000 users costs a few megabytes; safe for concurrent use.
type IDSet struct {
	mu  sync.Mutex
	ids map[[16]byte]struct{}
}

// NewIDSet returns an empty set.
func NewIDSet() *IDSet { return &IDSet{ids: map[[16]byte]struct{}{}} }

// Add adds a canonical UUID; anything else is ignored (validation has
// rejected it already).
func (s *IDSet) Add(id string) {
	k, ok := key(id)
	if !ok {
		return
	}
	s.mu.Lock()
	s.ids[k] = struct{}{}
	s.mu.Unlock()
}

// Remove removes id and reports whether it was in the set.
func (s *IDSet) Remove(id string) bool {
	k, ok := key(id)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, found := s.ids[k]
	delete(s.ids, k)
	return found
}

func key(id string) (k [16]byte, ok bool) {
	_, err := hex.Decode(k[:], []byte(strings.ReplaceAll(strings.ToLower(id), "-", "")))
	return k, err == nil && len(id) == 36
}

// Len returns the number of ids.
func (s *IDSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *IDSet) each(fn func(id string)) {
	s.mu.Lock()
	keys := make([][16]byte, 0, len(s.ids))
	for k := range s.ids {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		h := hex.EncodeToString(k[:])
		fn(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
	}
}

// Verification is what the final check found in Cassandra.
type Verification struct {
	Unique  int             // unique valid users fetched
	Found   int             // of them, rows found in the table
	Missing []string        // ids not found (at most 10 listed)
	Samples []transform.Row // a few stored rows
}

// Verify reads the whole table once and checks that every id of ids is in
// it; it also counts the table's rows. One paged scan is much faster than a
// point read per user (100,000 users: about 2 s against 15 s here). ids is
// emptied of the ids found.
func (p *Pipeline) Verify(ctx context.Context, ids *IDSet) (Verification, int64, error) {
	v := Verification{Unique: ids.Len()}
	var rows int64
	for row, err := range p.store.All(ctx, 5000) {
		if err != nil {
			return v, rows, fmt.Errorf("verify: %w", err)
		}
		rows++
		if ids.Remove(row.ID) {
			v.Found++
			if len(v.Samples) < 3 {
				v.Samples = append(v.Samples, row)
			}
		}
	}
	ids.each(func(id string) {
		if len(v.Missing) < 10 {
			v.Missing = append(v.Missing, id)
		}
	})
	return v, rows, nil
}
