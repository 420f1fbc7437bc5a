package dlq

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// Position is a record's place in Kafka.
type Position struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (p Position) String() string { return fmt.Sprintf("%s/%d/%d", p.Topic, p.Partition, p.Offset) }

// Letter is one record of the dead-letter topic, read back: why its
// record failed, where it came from, and the record itself.
type Letter struct {
	Position               // in the dead-letter topic
	Time         time.Time // when it was dead-lettered (the letter's timestamp)
	Reason       string    // the dlq-reason header: a kafkasink.Reason constant, or a handler's own
	Error        string    // the dlq-error header
	Original     Position  // where the record was read from when it failed (Partition and Offset -1 when unknown)
	RedriveCount int       // times the record had been redriven before it failed this time
	// ValueDropped is true when the record was too large to be
	// dead-lettered whole and went without its value ([ErrValueDropped]);
	// DroppedBytes is then the value's size, when known.
	ValueDropped bool
	DroppedBytes int64
	Key, Value   []byte
	// Headers are the failed record's own headers: the letter's, without
	// the dlq ones and the redrive count.
	Headers []kgo.RecordHeader
	// Redriven, when not nil, is the redrive log's entry for this letter:
	// it has been sent back already.
	Redriven *Redrive
}

// droppedText is what kafkasink's consumer wrote in the dlq-error header
// of a letter without its value, before it wrote dlq-value-dropped.
const droppedText = "bytes dropped: too large for the dead-letter topic"

// letterOf reads the letter r of the dead-letter topic.
func letterOf(r *kgo.Record) Letter {
	l := Letter{
		Position: Position{r.Topic, r.Partition, r.Offset}, Time: r.Timestamp,
		Original: Position{Partition: -1, Offset: -1}, Key: r.Key, Value: r.Value,
	}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case kafkasink.HeaderDLQReason:
			l.Reason = v
		case kafkasink.HeaderDLQError:
			l.Error = v
		case kafkasink.HeaderDLQTopic:
			l.Original.Topic = v
		case kafkasink.HeaderDLQPartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				l.Original.Partition = int32(p)
			}
		case kafkasink.HeaderDLQOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				l.Original.Offset = o
			}
		case kafkasink.HeaderDLQValueDropped:
			l.ValueDropped = true
			l.DroppedBytes, _ = strconv.ParseInt(v, 10, 64)
		case kafkasink.HeaderDLQRedriveCount:
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				l.RedriveCount = n
			}
		default:
			l.Headers = append(l.Headers, h)
		}
	}
	if len(l.Value) == 0 && strings.Contains(l.Error, droppedText) {
		l.ValueDropped = true
	}
	return l
}

// Range is the letters at offsets From to To, both included, of one
// partition of the dead-letter topic (partition 0, the only one of a
// dead-letter topic created with one partition, unless set).
type Range struct {
	Partition int32
	From, To  int64
}

// Selection chooses letters: those matching every field set. [Queue.List]
// reads the zero Selection as every letter; [Queue.Redrive] refuses it
// with [ErrNoSelection] and wants All said.
type Selection struct {
	All     bool   // every letter (narrowed by Reason and Offsets when they are set too)
	Reason  string // letters whose dlq-reason is Reason
	Offsets *Range // letters in this range
}

func (s Selection) empty() bool { return !s.All && s.Reason == "" && s.Offsets == nil }

func (s Selection) validate() error {
	if r := s.Offsets; r != nil && (r.From < 0 || r.To < r.From || r.Partition < 0) {
		return fmt.Errorf("dlq: offsets %d to %d of partition %d: want 0 <= from <= to", r.From, r.To, r.Partition)
	}
	return nil
}

// same reports whether s and o select the same letters.
func (s Selection) same(o Selection) bool {
	return s.All == o.All && s.Reason == o.Reason &&
		(s.Offsets == o.Offsets || s.Offsets != nil && o.Offsets != nil && *s.Offsets == *o.Offsets)
}

// clone returns s with a copy of its Offsets, which the caller may change.
func (s Selection) clone() Selection {
	if s.Offsets != nil {
		r := *s.Offsets
		s.Offsets = &r
	}
	return s
}

func (s Selection) matches(l *Letter) bool { return s.Reason == "" || l.Reason == s.Reason }

// spans returns what of the bounds start..end the selection reads.
func (s Selection) spans(start, end map[int32]int64) map[int32]span {
	out := map[int32]span{}
	for p, e := range end {
		sp := span{start[p], e}
		if r := s.Offsets; r != nil {
			if p != r.Partition {
				continue
			}
			sp = span{max(sp.from, r.From), min(sp.to, r.To+1)}
		}
		out[p] = sp
	}
	return out
}

// Letters returns the selected letters in the dead-letter topic as it is
// when the call starts (up to each partition's high watermark then; letters
// written later are left for the next call), in offset order within each
// partition, each with its redrive log entry. Breaking out of the loop
// stops the read. The first error ends the sequence; a missing
// dead-letter topic is [kafkasink.ErrTopicNotFound].
func (q *Queue) Letters(ctx context.Context, sel Selection) iter.Seq2[Letter, error] {
	return func(yield func(Letter, error) bool) {
		log, err := q.redriveLog(ctx)
		if err != nil {
			yield(Letter{}, err)
			return
		}
		for l, err := range q.letters(ctx, sel) {
			if err == nil {
				if e, ok := log[l.Position]; ok {
					l.Redriven = &e
				}
			}
			if !yield(l, err) || err != nil {
				return
			}
		}
	}
}

// letters is Letters without the redrive log.
func (q *Queue) letters(ctx context.Context, sel Selection) iter.Seq2[Letter, error] {
	return func(yield func(Letter, error) bool) {
		if err := sel.validate(); err != nil {
			yield(Letter{}, err)
			return
		}
		start, end, exists, err := q.bounds(ctx, q.cfg.topic)
		if err == nil && !exists {
			err = fmt.Errorf("dlq: dead-letter topic %q: %w", q.cfg.topic, kafkasink.ErrTopicNotFound)
		}
		if err != nil {
			yield(Letter{}, err)
			return
		}
		stopped := false
		err = q.read(ctx, q.cfg.topic, sel.spans(start, end), func(r *kgo.Record) bool {
			l := letterOf(r)
			if !sel.matches(&l) {
				return true
			}
			stopped = !yield(l, nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(Letter{}, err)
		}
	}
}

// List returns the selected letters, as [Queue.Letters] does, in a slice.
// A large dead-letter topic is better walked with Letters.
func (q *Queue) List(ctx context.Context, sel Selection) ([]Letter, error) {
	var out []Letter
	for l, err := range q.Letters(ctx, sel) {
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Latest returns the n most recently dead-lettered letters among those
// sel selects, newest first, each with its redrive log entry: what a
// status page shows. The zero Selection selects every letter, as for
// [Queue.List]; Reason and Offsets narrow it. Without a Reason it reads at
// most n letters of each partition, however large the topic; with one, it
// reads each partition backwards from its end, in growing windows, until
// it has n letters of that reason there or has read the whole partition
// (or the Offsets given). It reads nothing while neither the dead-letter
// topic nor the redrive log has moved since its last call with the same
// sel and n (it then returns the last answer again, whose keys, values
// and headers it shares: do not modify them). A missing dead-letter topic
// is [kafkasink.ErrTopicNotFound].
func (q *Queue) Latest(ctx context.Context, sel Selection, n int) ([]Letter, error) {
	if n <= 0 {
		return nil, nil
	}
	if err := sel.validate(); err != nil {
		return nil, err
	}
	start, end, exists, err := q.bounds(ctx, q.cfg.topic)
	if err == nil && !exists {
		err = fmt.Errorf("dlq: dead-letter topic %q: %w", q.cfg.topic, kafkasink.ErrTopicNotFound)
	}
	if err != nil {
		return nil, err
	}
	logStart, logEnd, _, err := q.bounds(ctx, q.cfg.logTopic)
	if err != nil {
		return nil, err
	}
	// A status page asks every second; while neither topic has moved the
	// answer is the last one, and nothing is read.
	q.latestMu.Lock()
	defer q.latestMu.Unlock()
	if c := q.latest; c != nil && c.n == n && c.sel.same(sel) && maps.Equal(c.end, end) && maps.Equal(c.logEnd, logEnd) {
		return slices.Clone(c.letters), nil
	}
	out, err := q.latestIn(ctx, sel, sel.spans(start, end), n)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Letter) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(a.Partition, b.Partition), cmp.Compare(b.Offset, a.Offset))
	})
	out = out[:min(n, len(out))]
	log, err := q.readRedriveLog(ctx, logStart, logEnd)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if e, ok := log[out[i].Position]; ok {
			out[i].Redriven = &e
		}
	}
	q.latest = &latestRead{n: n, sel: sel.clone(), end: end, logEnd: logEnd, letters: out}
	return slices.Clone(out), nil
}

// latestIn returns up to the last n letters sel matches of each span,
// reading the spans backwards from their ends in windows that grow
// fourfold, so that a reason found only long ago is still found while a
// common one costs one read of n letters per partition.
func (q *Queue) latestIn(ctx context.Context, sel Selection, spans map[int32]span, n int) ([]Letter, error) {
	found := map[int32][]Letter{}
	lo := map[int32]int64{} // where the part of each span read so far begins
	for p, s := range spans {
		lo[p] = s.to
	}
	for window := int64(n); ; window *= 4 {
		round := map[int32]span{}
		for p, s := range spans {
			if len(found[p]) >= n || lo[p] <= s.from {
				continue
			}
			from := max(s.from, lo[p]-window)
			round[p] = span{from, lo[p]}
			lo[p] = from
		}
		if len(round) == 0 {
			break
		}
		got := map[int32][]Letter{}
		if err := q.read(ctx, q.cfg.topic, round, func(r *kgo.Record) bool {
			if l := letterOf(r); sel.matches(&l) {
				got[r.Partition] = append(got[r.Partition], l)
			}
			return true
		}); err != nil {
			return nil, err
		}
		for p, ls := range got {
			found[p] = append(ls, found[p]...) // older letters first
		}
	}
	var out []Letter
	for _, ls := range found {
		out = append(out, ls[max(0, len(ls)-n):]...)
	}
	return out, nil
}

// latestRead is Latest's last answer and the topics' ends it was read at.
type latestRead struct {
	n           int
	sel         Selection
	end, logEnd map[int32]int64
	letters     []Letter
}
