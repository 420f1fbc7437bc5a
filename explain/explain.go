package explain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
)

// Verdict is where a user's latest version stands, in one word.
type Verdict string

// The verdicts of a [Report], from the first hop to the last.
const (
	// NotStaged: the outbox holds no version of the id. It was never
	// staged into this outbox (another schema?), or is not a user.
	NotStaged Verdict = "not-staged"
	// Pending: the latest version is staged, not yet published.
	Pending Verdict = "pending"
	// Published: the latest version is in Kafka (or was: see the Kafka
	// hop), and the table does not hold it yet, or was not checked.
	Published Verdict = "published"
	// Stored: the table holds the latest version: its write time is the
	// version.
	Stored Verdict = "stored"
	// Deleted: the latest version is a deletion, published, and the
	// table holds no row.
	Deleted Verdict = "deleted"
	// DeadLettered: the table does not hold the latest version, and the
	// dead-letter topic has a letter of it.
	DeadLettered Verdict = "dead-lettered"
	// Newer: the table holds a write newer than the latest version (made
	// by other means than the pipeline).
	Newer Verdict = "newer-in-table"
)

// Report is the evidence of each hop for one user, as [Explainer.User]
// finds it. Every hop has Checked (false when the [Explainer] was made
// without it) and what it found; Summary says the gist in a sentence.
type Report struct {
	ID          string        `json:"id"`
	Verdict     Verdict       `json:"verdict"`
	Summary     string        `json:"summary"`
	Runs        []Run         `json:"runs"`
	Outbox      OutboxHop     `json:"outbox"`
	Kafka       KafkaHop      `json:"kafka"`
	Cassandra   CassandraHop  `json:"cassandra"`
	DeadLetters DeadLetterHop `json:"dead_letters"`
	Took        time.Duration `json:"took_ns"`
}

// Run is a run that staged a version of the user.
type Run struct {
	ID       string `json:"id"`
	Versions int    `json:"versions"` // how many of the versions the outbox holds it staged
	// Ledger is the run as the run ledger holds it ([WithRuns]); nil
	// without a ledger, or when the ledger has no such run (Note says
	// which).
	Ledger *runledger.Run `json:"ledger,omitempty"`
	Note   string         `json:"note,omitempty"`
}

// OutboxHop is what the PostgreSQL outbox holds of the user.
type OutboxHop struct {
	Schema   string `json:"schema"`
	Topic    string `json:"topic"`    // the topic the outbox is bound to; "" before its first publish
	Position int64  `json:"position"` // the relay position: versions at or below it are published
	// Versions are the versions the outbox holds, in stage order; the
	// last is the latest. Cleanup keeps each user's latest version for
	// good and deletes replaced ones after the relay's retention.
	Versions []Version `json:"versions"`
}

// Version is one version of the user in the outbox.
type Version struct {
	Seq     int64  `json:"seq"`               // the stage order
	Version int64  `json:"version"`           // microseconds since the Unix epoch: the row-version header, and the table's write time
	Deleted bool   `json:"deleted,omitempty"` // a deletion (a tombstone in Kafka)
	RunID   string `json:"run_id"`
	// StagedAt is the outbox's fetched_at: the time of the staging
	// transaction, which Stage records as the fetch time (a page is
	// staged as soon as it is fetched), and which the record carries in
	// its fetched-at header.
	StagedAt  time.Time `json:"staged_at"`
	Published bool      `json:"published"` // the relay has passed it (seq <= position)
	// Record is where it went in Kafka, as the relay round that
	// published it recorded; nil when pending, or not recorded (see
	// [outbox.Trace]).
	Record *outbox.Record `json:"record,omitempty"`
}

// KafkaHop is the latest version's record in Kafka, read back at the
// partition and offset the relay recorded: one fetch, no scan.
type KafkaHop struct {
	Checked bool `json:"checked"`
	// Found is true when the record at the recorded place is there and
	// carries the id as its key.
	Found     bool      `json:"found"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp,omitzero"` // the record's timestamp
	Tombstone bool      `json:"tombstone,omitempty"`
	// RowVersion and FetchedAt are the record's row-version and
	// fetched-at headers; RowVersion equals the outbox's version when
	// the record is that version's.
	RowVersion int64     `json:"row_version,omitempty"`
	FetchedAt  time.Time `json:"fetched_at,omitzero"`
	// Consumed says whether the consumer group ([WithConsumerGroup]) has
	// committed an offset past the record; nil when not asked.
	Consumed *bool  `json:"consumed,omitempty"`
	Note     string `json:"note,omitempty"` // why it was not found or not checked
}

// CassandraHop is the table's row of the user.
type CassandraHop struct {
	Checked bool   `json:"checked"`
	Table   string `json:"table,omitempty"` // keyspace.table
	Found   bool   `json:"found"`
	// WriteTime is the row's write time in microseconds since the Unix
	// epoch (the newest of its columns'): the version it was written at.
	WriteTime int64 `json:"write_time,omitempty"`
	// AtLatest is true when WriteTime is the outbox's latest version.
	AtLatest bool   `json:"at_latest"`
	Note     string `json:"note,omitempty"`
}

// DeadLetterHop is the user's letters in the dead-letter topic, newest
// first, among those read ([WithDeadLetterScan]).
type DeadLetterHop struct {
	Checked bool     `json:"checked"`
	Topic   string   `json:"topic,omitempty"`
	Letters []Letter `json:"letters"`
	// Complete is true when the scan read the whole dead-letter topic;
	// when false, an older letter may exist.
	Complete bool   `json:"complete"`
	Note     string `json:"note,omitempty"`
}

// Letter is one dead letter of the user.
type Letter struct {
	Position   dlq.Position `json:"position"` // in the dead-letter topic
	Time       time.Time    `json:"time"`
	Reason     string       `json:"reason"`
	Error      string       `json:"error,omitempty"`
	Original   dlq.Position `json:"original"`              // where the failed record was read from
	RowVersion int64        `json:"row_version,omitempty"` // the failed record's row-version header
	Redriven   bool         `json:"redriven,omitempty"`
}

// Explainer finds the evidence of each hop for one user. Create it with
// [New]; it is safe for concurrent use.
type Explainer struct {
	box   *outbox.Store
	table *cassandrastore.Store
	kafka []kgo.Opt
	cfg   config
}

// New returns an Explainer of the outbox box, the table (nil: the
// Cassandra hop is not checked) and the Kafka cluster that kafka's
// franz-go options reach (at least kgo.SeedBrokers, and the security
// options; nil: the Kafka hop says only what the outbox recorded). It
// does no I/O; each [Explainer.User] call opens, and closes, the one Kafka
// client it needs. The caller owns box and table.
func New(box *outbox.Store, table *cassandrastore.Store, kafka []kgo.Opt, opts ...Opt) (*Explainer, error) {
	if box == nil {
		return nil, errors.New("explain: nil outbox")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Explainer{box: box, table: table, kafka: kafka, cfg: cfg}, nil
}

// User returns the evidence of each hop for the user id (a canonical UUID,
// as the Random User API's login.uuid is): the runs that staged it, its
// versions in the outbox and whether the relay passed them, the latest
// version's record in Kafka, the table's row and write time, and its dead
// letters. An id the outbox never staged is a Report with the verdict
// [NotStaged], not an error (the other hops are still checked: a row may
// have come by other means). The error is for a hop that could not be read
// (a server down), or an id that is not a canonical UUID
// (*[outbox.InvalidIDError]).
func (e *Explainer) User(ctx context.Context, id string) (*Report, error) {
	start := time.Now()
	h, err := e.box.History(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("explain: outbox: %w", err)
	}
	rep := &Report{ID: id, Runs: []Run{}, Outbox: OutboxHop{
		Schema: e.box.Schema(), Topic: h.Topic, Position: h.Position, Versions: []Version{},
	}}
	for _, t := range h.Versions {
		rep.Outbox.Versions = append(rep.Outbox.Versions, Version{
			Seq: t.Seq, Version: t.Version.Version, Deleted: t.Deleted, RunID: t.RunID,
			StagedAt: t.FetchedAt, Published: t.Published, Record: t.Record,
		})
	}
	if err := e.runs(ctx, rep); err != nil {
		return nil, err
	}
	latest, staged := h.Latest()
	if err := e.kafkaHop(ctx, rep, latest, staged); err != nil {
		return nil, err
	}
	if err := e.cassandraHop(ctx, rep, latest, staged); err != nil {
		return nil, err
	}
	if err := e.deadLetterHop(ctx, rep); err != nil {
		return nil, err
	}
	rep.Verdict, rep.Summary = verdict(rep, latest, staged)
	rep.Took = time.Since(start)
	return rep, nil
}

// undefinedTable is PostgreSQL's SQLSTATE for a missing table.
const undefinedTable = "42P01"

// runs fills the runs of the versions, in the order of their first
// version, from the ledger when there is one.
func (e *Explainer) runs(ctx context.Context, rep *Report) error {
	index := map[string]int{}
	for _, v := range rep.Outbox.Versions {
		i, ok := index[v.RunID]
		if !ok {
			i = len(rep.Runs)
			index[v.RunID] = i
			rep.Runs = append(rep.Runs, Run{ID: v.RunID})
		}
		rep.Runs[i].Versions++
	}
	if e.cfg.runs == nil {
		return nil
	}
	for i := range rep.Runs {
		r, err := e.cfg.runs.Get(ctx, rep.Runs[i].ID)
		var pg *pgconn.PgError
		switch {
		case errors.As(err, &pg) && pg.Code == undefinedTable:
			// A deployment without a ledger (in this schema): the
			// runs' ids are all there is.
			for j := range rep.Runs {
				rep.Runs[j].Note = "no run ledger in this schema"
			}
			return nil
		case errors.Is(err, runledger.ErrNotFound):
			rep.Runs[i].Note = "not in the run ledger (staged by a program that keeps none, or another ledger schema)"
		case err != nil:
			return fmt.Errorf("explain: run ledger: %w", err)
		default:
			rep.Runs[i].Ledger = &r
		}
	}
	return nil
}

// kafkaHop reads the latest version's record at its recorded place.
func (e *Explainer) kafkaHop(ctx context.Context, rep *Report, latest outbox.Trace, staged bool) error {
	k := &rep.Kafka
	switch {
	case !staged:
		k.Note = "nothing staged, nothing published"
		return nil
	case !latest.Published:
		k.Note = "the latest version is pending in the outbox: not yet published"
		return nil
	case latest.Record == nil:
		k.Note = "published, but its place is no longer recorded (the relay's rounds are kept for its retention) or was never (published before outbox schema version 5)"
		return nil
	}
	rec := latest.Record
	k.Topic, k.Partition, k.Offset = rec.Topic, rec.Partition, rec.Offset
	if e.kafka == nil {
		k.Note = "Kafka not checked: the place is the relay's record"
		return nil
	}
	k.Checked = true
	r, note, err := e.fetch(ctx, rec)
	if err != nil {
		return fmt.Errorf("explain: kafka: %w", err)
	}
	if r == nil {
		k.Note = note
		return nil
	}
	k.Timestamp = r.Timestamp
	k.Tombstone = r.Value == nil
	for _, hd := range r.Headers {
		switch hd.Key {
		case kafkasink.HeaderRowVersion:
			k.RowVersion, _ = strconv.ParseInt(string(hd.Value), 10, 64)
		case kafkasink.HeaderFetchedAt:
			if us, err := strconv.ParseInt(string(hd.Value), 10, 64); err == nil {
				k.FetchedAt = time.UnixMicro(us).UTC()
			}
		}
	}
	switch {
	case string(r.Key) != rep.ID:
		k.Note = fmt.Sprintf("the record at the recorded place has another key, %q: not this user's", r.Key)
	case k.RowVersion != latest.Version.Version:
		k.Found = true
		k.Note = fmt.Sprintf("the record carries row-version %d, not the latest version %d", k.RowVersion, latest.Version.Version)
	default:
		k.Found = true
	}
	if e.cfg.group != "" {
		consumed, err := e.consumed(ctx, rec)
		if err != nil {
			return fmt.Errorf("explain: kafka: %w", err)
		}
		k.Consumed = &consumed
	}
	return nil
}

// fetch reads the record at rec's place with a client of its own: nil and
// a note when the partition no longer (or does not yet) hold that offset.
func (e *Explainer) fetch(ctx context.Context, rec *outbox.Record) (*kgo.Record, string, error) {
	adm, err := kgo.NewClient(e.kafka...)
	if err != nil {
		return nil, "", err
	}
	defer adm.Close()
	starts, err := kadm.NewClient(adm).ListStartOffsets(ctx, rec.Topic)
	if err != nil {
		return nil, "", err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, rec.Topic)
	if err != nil {
		return nil, "", err
	}
	s, okS := starts.Lookup(rec.Topic, rec.Partition)
	en, okE := ends.Lookup(rec.Topic, rec.Partition)
	switch {
	case !okS || !okE || s.Err != nil || en.Err != nil:
		return nil, fmt.Sprintf("topic %s has no partition %d (deleted or recreated?)", rec.Topic, rec.Partition), nil
	case rec.Offset < s.Offset:
		return nil, fmt.Sprintf("no longer in Kafka: partition %d starts at offset %d now (the topic's retention deleted it)", rec.Partition, s.Offset), nil
	case rec.Offset >= en.Offset:
		return nil, fmt.Sprintf("partition %d ends at offset %d, before the recorded one (the topic was recreated?)", rec.Partition, en.Offset), nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), e.kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{rec.Topic: {rec.Partition: kgo.NewOffset().At(rec.Offset)}}),
		kgo.FetchMaxBytes(1<<20))...)
	if err != nil {
		return nil, "", err
	}
	defer cl.Close()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		if fetchErr != nil {
			return nil, "", fetchErr
		}
		if rs := fs.Records(); len(rs) > 0 {
			if r := rs[0]; r.Offset == rec.Offset {
				return r, "", nil
			}
			return nil, fmt.Sprintf("no record at offset %d of partition %d any more (the next is at %d: compacted?)", rec.Offset, rec.Partition, rs[0].Offset), nil
		}
	}
}

// consumed reports whether the consumer group committed past rec.
func (e *Explainer) consumed(ctx context.Context, rec *outbox.Record) (bool, error) {
	cl, err := kgo.NewClient(e.kafka...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, e.cfg.group)
	if err != nil {
		return false, err
	}
	o, ok := offs.Lookup(rec.Topic, rec.Partition)
	return ok && o.Err == nil && o.At > rec.Offset, nil
}

// cassandraHop reads the table's row of the id.
func (e *Explainer) cassandraHop(ctx context.Context, rep *Report, latest outbox.Trace, staged bool) error {
	c := &rep.Cassandra
	if e.table == nil {
		c.Note = "Cassandra not checked"
		return nil
	}
	c.Checked = true
	c.Table = e.table.Keyspace() + "." + e.table.Table()
	found, err := e.table.Lookup(ctx, []string{rep.ID})
	if err != nil {
		return fmt.Errorf("explain: cassandra: %w", err)
	}
	if len(found) == 0 {
		return nil
	}
	c.Found = true
	c.WriteTime = found[0].WriteTime
	c.AtLatest = staged && c.WriteTime == latest.Version.Version
	return nil
}

// deadLetterHop looks for the id's letters among the newest of the
// dead-letter topic.
func (e *Explainer) deadLetterHop(ctx context.Context, rep *Report) error {
	d := &rep.DeadLetters
	d.Letters = []Letter{}
	q := e.cfg.letters
	if q == nil {
		d.Note = "dead letters not checked"
		return nil
	}
	d.Checked = true
	d.Topic = q.Topic()
	ls, err := q.Latest(ctx, dlq.Selection{}, e.cfg.scan)
	if errors.Is(err, kafkasink.ErrTopicNotFound) {
		d.Complete = true
		d.Note = "no dead-letter topic: nothing was dead-lettered"
		return nil
	}
	if err != nil {
		return fmt.Errorf("explain: dead letters: %w", err)
	}
	// Latest returns at most scan letters of all partitions together:
	// fewer means it read every partition to its start.
	d.Complete = len(ls) < e.cfg.scan
	if !d.Complete {
		d.Note = fmt.Sprintf("read the newest %d letters; an older letter of this user would not be found", e.cfg.scan)
	}
	for _, l := range ls {
		if string(l.Key) != rep.ID {
			continue
		}
		out := Letter{Position: l.Position, Time: l.Time, Reason: l.Reason, Error: l.Error, Original: l.Original, Redriven: l.Redriven != nil}
		for _, hd := range l.Headers {
			if hd.Key == kafkasink.HeaderRowVersion {
				out.RowVersion, _ = strconv.ParseInt(string(hd.Value), 10, 64)
			}
		}
		d.Letters = append(d.Letters, out)
	}
	return nil
}

// verdict says where the latest version stands, and why.
func verdict(rep *Report, latest outbox.Trace, staged bool) (Verdict, string) {
	c := rep.Cassandra
	switch {
	case !staged:
		s := fmt.Sprintf("the outbox (schema %s) holds no version of this id: not staged here", rep.Outbox.Schema)
		if c.Found {
			s += fmt.Sprintf("; the table has a row, written at %s by other means", micros(c.WriteTime))
		}
		return NotStaged, s
	case !latest.Published:
		return Pending, fmt.Sprintf("version %d (seq %d) is staged and waits for the relay (position %d)", latest.Version.Version, latest.Seq, rep.Outbox.Position)
	case c.Found && c.WriteTime > latest.Version.Version:
		return Newer, fmt.Sprintf("the table's row was written at %s, after the latest version %d: by other means than the pipeline", micros(c.WriteTime), latest.Version.Version)
	case latest.Deleted && c.Checked && !c.Found:
		return Deleted, fmt.Sprintf("the deletion (version %d) was published and the table holds no row", latest.Version.Version)
	case !latest.Deleted && c.AtLatest:
		return Stored, fmt.Sprintf("the table's row was written at the latest version %d", latest.Version.Version)
	}
	for _, l := range rep.DeadLetters.Letters {
		if l.RowVersion == latest.Version.Version || l.RowVersion == 0 {
			return DeadLettered, fmt.Sprintf("the consumer sent the record to the dead-letter topic: %s (%s), letter %s", l.Reason, l.Error, l.Position)
		}
	}
	s := fmt.Sprintf("version %d is published", latest.Version.Version)
	switch {
	case !c.Checked:
	case c.Found:
		s += fmt.Sprintf("; the table still holds the older write %s: a consumer has not applied it yet", micros(c.WriteTime))
	default:
		s += "; the table has no row yet: a consumer has not applied it"
	}
	return Published, s
}

// micros formats microseconds since the Unix epoch.
func micros(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}
