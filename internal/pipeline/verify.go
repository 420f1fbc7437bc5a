package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/userstream/userstream/cassandrastore"
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
	var k [16]byte
	if _, err := hex.Decode(k[:], []byte(strings.ReplaceAll(id, "-", ""))); err != nil {
		return
	}
	s.mu.Lock()
	s.ids[k] = struct{}{}
	s.mu.Unlock()
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

// Verify looks up every id of ids in the table, with bounded concurrency.
func (p *Pipeline) Verify(ctx context.Context, ids *IDSet) (Verification, error) {
	v := Verification{Unique: ids.Len()}
	var (
		found   atomic.Int64
		mu      sync.Mutex
		firstEr error
		wg      sync.WaitGroup
	)
	work := make(chan string, 256)
	for range 32 {
		wg.Go(func() {
			for id := range work {
				row, err := p.store.Get(ctx, id)
				mu.Lock()
				switch {
				case err == nil:
					found.Add(1)
					if len(v.Samples) < 3 {
						v.Samples = append(v.Samples, row)
					}
				case errors.Is(err, cassandrastore.ErrNotFound):
					if len(v.Missing) < 10 {
						v.Missing = append(v.Missing, id)
					}
				default:
					if firstEr == nil {
						firstEr = err
					}
				}
				mu.Unlock()
			}
		})
	}
	ids.each(func(id string) { work <- id })
	close(work)
	wg.Wait()
	v.Found = int(found.Load())
	if firstEr != nil {
		return v, fmt.Errorf("verify: %w", firstEr)
	}
	return v, nil
}

// Count returns the rows in the table (a full scan).
func (p *Pipeline) Count(ctx context.Context) (int64, error) { return p.store.Count(ctx) }
