package outbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// History is what the outbox knows of one user, as [Store.History] reads
// it: every version it still holds, in stage order, and whether and where
// the relay published each.
type History struct {
	ID string // the user's id, as asked
	// Position is the relay position when read: versions at or below it
	// are published.
	Position int64
	// Topic is the topic the outbox is bound to, "" while nothing has
	// been published from it.
	Topic    string
	Versions []Trace // in seq order; the last is the latest version; none when the outbox never staged the id
}

// Latest returns the latest version's trace, and false when the outbox
// holds no version of the id.
func (h History) Latest() (Trace, bool) {
	if len(h.Versions) == 0 {
		return Trace{}, false
	}
	return h.Versions[len(h.Versions)-1], true
}

// Trace is one version of a user and its publication.
type Trace struct {
	Version
	// Published is true when the relay has published the version: its
	// seq is at or below the position.
	Published bool
	// Record is where the version went in Kafka, as the broker
	// acknowledged it to the relay round that published it; nil when the
	// version is pending, or when that round's record is gone (cleanup
	// deletes them after the relay's retention, see [Relay.Cleanup]) or
	// was never made (published by a relay or a schema version before
	// outbox_rounds, or through a [Source] other than *Store).
	Record *Record
}

// Record is a published version's place in Kafka.
type Record struct {
	Topic       string    `json:"topic"`
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	PublishedAt time.Time `json:"published_at"` // when the relay round recorded it (its commit's statement time)
}

// History returns every version the outbox holds of id, in stage order,
// each with whether the relay has published it and, when the relay round
// that published it recorded it, its Kafka partition and offset: what a
// person asking "where is this user?" needs from the outbox, read with
// one query (the outbox_id index, and a primary-key probe of
// outbox_rounds per version), never a scan of Kafka. An id the outbox
// never staged is a History with no Versions, not an error; cleanup
// ([Relay.Cleanup]) leaves each id's latest version, and deletes replaced
// versions and the rounds' records after the retention. The id must be a
// canonical UUID, or History returns an *[InvalidIDError] before any I/O.
func (s *Store) History(ctx context.Context, id string) (History, error) {
	u, err := parseIDs([]string{id})
	if err != nil {
		return History{}, err
	}
	h := History{ID: id}
	rows, err := s.pool.Query(ctx, s.q.history, pgtype.UUID{Bytes: u[0], Valid: true})
	if err != nil {
		return h, s.wrap("history", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t             Trace
			bound, rtopic *string
			publishedAt   *time.Time
			partition     *int32
			offset        *int64
		)
		if err := rows.Scan(&t.Seq, &t.Version.Version, &t.Deleted, &t.Payload, &t.RunID, &t.FetchedAt,
			&h.Position, &bound, &rtopic, &publishedAt, &partition, &offset); err != nil {
			return h, s.wrap("history", err)
		}
		t.ID = id
		t.Published = t.Seq <= h.Position
		if bound != nil {
			h.Topic = *bound
		}
		if rtopic != nil && partition != nil && offset != nil && publishedAt != nil {
			t.Record = &Record{Topic: *rtopic, Partition: *partition, Offset: *offset, PublishedAt: *publishedAt}
		}
		h.Versions = append(h.Versions, t)
	}
	return h, s.wrap("history", rows.Err())
}
