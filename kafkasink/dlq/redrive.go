package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// Redrive is one letter sent back to be consumed again: an entry of the
// redrive log, and of a [Report].
type Redrive struct {
	Letter   Position  `json:"letter"`        // the letter redriven, in the dead-letter topic
	Original Position  `json:"original"`      // where its record had failed
	Reason   string    `json:"reason"`        // why it had failed
	Count    int       `json:"redrive_count"` // the record's redrive count as sent: the letter's plus one
	To       Position  `json:"to"`            // where it was written; zero in a dry run
	At       time.Time `json:"at"`            // when it was written
}

// Skip is a selected letter that was not redriven, and why: Err is
// [ErrAlreadyRedriven], [ErrRedriveLimit], [ErrValueDropped] or
// [ErrNoTarget].
type Skip struct {
	Letter       Position
	Original     Position
	Reason       string
	RedriveCount int
	Err          error
}

// Report is what a [Queue.Redrive] did.
type Report struct {
	Selected int       // letters the selection matched
	Redriven []Redrive // sent back (in a dry run: would be)
	Skipped  []Skip    // not sent, each with why
	DryRun   bool
}

// redriveBatch is how many letters Redrive writes at a time: a large
// selection is never held in memory whole.
const redriveBatch = 500

// Redrive sends the selected letters' records back to be consumed again,
// after the cause of their failure has been fixed: each letter's key,
// value and original headers go to its original topic (or
// [WithTargetTopic]'s), with a dlq-redrive-count header one more than the
// letter's. Nothing is deleted from the dead-letter topic. Each letter
// redriven is recorded in the redrive log, and a letter the log holds
// already is skipped with [ErrAlreadyRedriven], so running the same
// redrive twice sends nothing the second time. Letters whose record has
// been redriven [WithMaxRedrives] times are skipped with [ErrRedriveLimit],
// letters without their value with [ErrValueDropped] (their report names
// the original position, where the record may still be).
//
// sel must say what to redrive (Selection.All for every letter), or
// Redrive returns [ErrNoSelection]. The dead-letter topic is read up to
// its end at the call's start. On an error the Report holds what was done
// before it; running the redrive again carries on where it stopped.
func (q *Queue) Redrive(ctx context.Context, sel Selection, opts ...RedriveOpt) (Report, error) {
	var rc redriveConfig
	for _, o := range opts {
		if o != nil {
			o.applyRedrive(&rc)
		}
	}
	rep := Report{DryRun: rc.dryRun}
	switch {
	case sel.empty():
		return rep, ErrNoSelection
	case rc.target == q.cfg.topic:
		return rep, fmt.Errorf("dlq: redrive to %q, the dead-letter topic itself", rc.target)
	}
	done, err := q.redriveLog(ctx)
	if err != nil {
		return rep, err
	}
	batch := make([]Letter, 0, redriveBatch)
	flush := func() error {
		sent, err := q.send(ctx, batch, rc.target)
		rep.Redriven = append(rep.Redriven, sent...)
		batch = batch[:0]
		return err
	}
	for l, err := range q.letters(ctx, sel) {
		if err != nil {
			return rep, err
		}
		rep.Selected++
		if why := q.skip(&l, done, rc.target); why != nil {
			rep.Skipped = append(rep.Skipped, Skip{Letter: l.Position, Original: l.Original, Reason: l.Reason, RedriveCount: l.RedriveCount, Err: why})
			q.cfg.logger.Debug("dlq: letter skipped", "letter", l.Position, "original", l.Original, "why", why)
			continue
		}
		if rc.dryRun {
			rep.Redriven = append(rep.Redriven, Redrive{Letter: l.Position, Original: l.Original, Reason: l.Reason, Count: l.RedriveCount + 1})
			continue
		}
		batch = append(batch, l)
		if len(batch) == redriveBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return rep, err
		}
	}
	q.cfg.logger.Info("dlq: redrive done", "topic", q.cfg.topic, "selected", rep.Selected,
		"redriven", len(rep.Redriven), "skipped", len(rep.Skipped), "dry_run", rep.DryRun)
	return rep, nil
}

// skip returns why l is not to be redriven, or nil.
func (q *Queue) skip(l *Letter, done map[Position]Redrive, target string) error {
	switch {
	case hasKey(done, l.Position):
		return ErrAlreadyRedriven
	case l.ValueDropped:
		return ErrValueDropped
	case l.RedriveCount >= q.cfg.maxRedrives:
		return ErrRedriveLimit
	case target == "" && l.Original.Topic == "":
		return ErrNoTarget
	case target == "" && l.Original.Topic == q.cfg.topic:
		return ErrNoTarget // a letter naming its own topic would loop
	}
	return nil
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }

// send writes the letters' records to their topics, then their entries to
// the redrive log, and returns the letters written. The log is written
// after the records, never before: a crash in between leaves records sent
// but not logged, which the next redrive sends again, and an upsert by id
// stores once; the other order could log records never sent.
func (q *Queue) send(ctx context.Context, letters []Letter, target string) ([]Redrive, error) {
	if len(letters) == 0 {
		return nil, nil
	}
	if err := q.ensureLog(ctx); err != nil {
		return nil, err
	}
	recs := make([]*kgo.Record, len(letters))
	index := make(map[*kgo.Record]int, len(letters))
	for i := range letters {
		recs[i] = redriveRecord(&letters[i], target)
		index[recs[i]] = i
	}
	sent := make([]*Redrive, len(letters))
	var firstErr error
	for _, res := range q.cl.ProduceSync(ctx, recs...) {
		i := index[res.Record]
		if res.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("dlq: redrive %s to %s: %w", letters[i].Position, res.Record.Topic, res.Err)
			}
			continue
		}
		l := &letters[i]
		sent[i] = &Redrive{Letter: l.Position, Original: l.Original, Reason: l.Reason, Count: l.RedriveCount + 1,
			To: Position{res.Record.Topic, res.Record.Partition, res.Record.Offset}, At: res.Record.Timestamp}
	}
	var out []Redrive
	var entries []*kgo.Record
	for _, r := range sent {
		if r == nil {
			continue
		}
		out = append(out, *r)
		v, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("dlq: encode redrive log entry: %w", err)
		}
		entries = append(entries, &kgo.Record{Topic: q.cfg.logTopic, Key: []byte(r.Letter.String()), Value: v})
		q.cfg.logger.Debug("dlq: letter redriven", "letter", r.Letter, "to", r.To, "redrive_count", r.Count)
	}
	if err := q.cl.ProduceSync(ctx, entries...).FirstErr(); err != nil {
		// The records are sent; the next redrive sends them again.
		return out, fmt.Errorf("dlq: %d records redriven but not recorded in %s (a new redrive sends them again): %w", len(out), q.cfg.logTopic, err)
	}
	return out, firstErr
}

// redriveRecord is the record of l to send to target (l's original topic
// when empty): its key, value and own headers, and its redrive count plus
// one.
func redriveRecord(l *Letter, target string) *kgo.Record {
	if target == "" {
		target = l.Original.Topic
	}
	headers := make([]kgo.RecordHeader, 0, len(l.Headers)+1)
	headers = append(headers, l.Headers...)
	headers = append(headers, kgo.RecordHeader{Key: kafkasink.HeaderDLQRedriveCount, Value: strconv.AppendInt(nil, int64(l.RedriveCount+1), 10)})
	return &kgo.Record{Topic: target, Key: l.Key, Value: l.Value, Headers: headers}
}

// redriveLog reads the redrive log: the entries by letter. A log that
// does not exist yet is empty.
func (q *Queue) redriveLog(ctx context.Context) (map[Position]Redrive, error) {
	start, end, exists, err := q.bounds(ctx, q.cfg.logTopic)
	if err != nil || !exists {
		return map[Position]Redrive{}, err
	}
	return q.readRedriveLog(ctx, start, end)
}

// readRedriveLog reads the redrive log between the bounds given.
func (q *Queue) readRedriveLog(ctx context.Context, start, end map[int32]int64) (map[Position]Redrive, error) {
	spans := map[int32]span{}
	for p, e := range end {
		spans[p] = span{start[p], e}
	}
	out := map[Position]Redrive{}
	var bad error
	err := q.read(ctx, q.cfg.logTopic, spans, func(r *kgo.Record) bool {
		var e Redrive
		if err := json.Unmarshal(r.Value, &e); err != nil || e.Letter.Topic == "" {
			bad = fmt.Errorf("dlq: redrive log %s/%d/%d is not an entry: %q", r.Topic, r.Partition, r.Offset, r.Value)
			return false
		}
		if e.Letter.Topic == q.cfg.topic {
			out[e.Letter] = e
		}
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// ensureLog creates the redrive log when missing: one partition (its
// order is the order of redrives), the dead-letter topic's replication
// factor, and compaction, which keeps every letter's entry (each letter
// has one key) however old it is.
func (q *Queue) ensureLog(ctx context.Context) error {
	q.logMu.Lock()
	defer q.logMu.Unlock()
	if q.logReady {
		return nil
	}
	tds, err := q.adm.ListTopics(ctx, q.cfg.topic)
	if err != nil {
		return fmt.Errorf("dlq: metadata of %s: %w", q.cfg.topic, err)
	}
	td := tds[q.cfg.topic]
	if err := td.Err; err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			err = fmt.Errorf("%w: %w", kafkasink.ErrTopicNotFound, err)
		}
		return fmt.Errorf("dlq: dead-letter topic %s: %w", q.cfg.topic, err)
	}
	rf := int16(1)
	for _, p := range td.Partitions {
		rf = max(rf, int16(len(p.Replicas)))
	}
	if _, err := kafkasink.EnsureTopic(ctx, q.cl, kafkasink.TopicSpec{Name: q.cfg.logTopic, Partitions: 1, ReplicationFactor: rf,
		Configs: map[string]string{"cleanup.policy": "compact"}}); err != nil {
		return fmt.Errorf("dlq: redrive log: %w", err)
	}
	q.logReady = true
	return nil
}
