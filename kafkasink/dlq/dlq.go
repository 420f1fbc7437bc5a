package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// Errors of this package. Test for them with errors.Is. A missing
// dead-letter topic is [kafkasink.ErrTopicNotFound].
var (
	// ErrNoSelection is returned by [Queue.Redrive] for a [Selection]
	// with nothing set: redriving every letter must be asked for
	// (Selection.All), never the result of a forgotten flag.
	ErrNoSelection = errors.New("dlq: empty selection; set All, Reason or Offsets")

	// The reasons a selected letter is not redriven, in [Skip.Err].

	// ErrAlreadyRedriven: the redrive log records the letter as redriven
	// already. A letter is sent back once; a record that failed again is a
	// new letter.
	ErrAlreadyRedriven = errors.New("dlq: already redriven")
	// ErrRedriveLimit: the letter's record has been redriven as many times
	// as [WithMaxRedrives] allows, and failed each time.
	ErrRedriveLimit = errors.New("dlq: redrive limit reached")
	// ErrValueDropped: the letter's record was too large to be
	// dead-lettered whole and went without its value; the original is at
	// the letter's original position, for as long as that topic keeps it.
	ErrValueDropped = errors.New("dlq: value dropped for size; the original is at its original position")
	// ErrNoTarget: the letter names no original topic (it was not written
	// by a kafkasink consumer) and no [WithTargetTopic] was given.
	ErrNoTarget = errors.New("dlq: no original topic to redrive to")
)

// Defaults of a [Queue], overridden by the options named.
const (
	// DefaultMaxRedrives is how many times a record may be redriven
	// ([WithMaxRedrives]).
	DefaultMaxRedrives = 3
	// RedriveLogSuffix follows the dead-letter topic's name in the name
	// of its redrive log ([WithRedriveLog]): users_created.dlq.redrive.
	RedriveLogSuffix = ".redrive"
)

// Queue reads a dead-letter topic and redrives its letters. Create it with
// [New] and Close it when done. Its methods are safe for concurrent use,
// but run one Redrive of a topic at a time (see the package doc).
type Queue struct {
	cfg     config
	brokers []string
	cl      *kgo.Client // produces redriven records and log entries; admin requests
	adm     *kadm.Client

	logMu sync.Mutex // guards logReady
	// logReady is set once the redrive log topic is known to exist.
	logReady bool

	latestMu sync.Mutex  // guards latest
	latest   *latestRead // Latest's last answer
}

// New returns a Queue of a dead-letter topic on the brokers: by default
// that of the data topic users_created, users_created.dlq;
// [WithDataTopic] names another data topic (its dead-letter topic is
// [kafkasink.DLQTopicFor] of it), [WithDLQTopic] the dead-letter topic
// itself. It does no I/O.
func New(brokers []string, opts ...Opt) (*Queue, error) {
	if len(brokers) == 0 {
		return nil, errors.New("dlq: no brokers")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = discard
	}
	if !cfg.topicSet && cfg.dataTopic != "" {
		cfg.topic = kafkasink.DLQTopicFor(cfg.dataTopic)
	}
	if cfg.logTopic == "" {
		cfg.logTopic = cfg.topic + RedriveLogSuffix
	}
	switch {
	case cfg.topic == "":
		return nil, errors.New("dlq: empty topic")
	case cfg.logTopic == cfg.topic:
		return nil, fmt.Errorf("dlq: the redrive log %q is the dead-letter topic", cfg.logTopic)
	case cfg.maxRedrives < 1:
		return nil, fmt.Errorf("dlq: WithMaxRedrives(%d), want at least 1", cfg.maxRedrives)
	}
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// Redriven records and log entries are written once the
		// replicas have them, as the consumer writes dead letters.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.WithLogger(slogLogger{cfg.logger}),
	}, cfg.clientOpts)...)
	if err != nil {
		return nil, fmt.Errorf("dlq: new client: %w", err)
	}
	return &Queue{cfg: cfg, brokers: slices.Clone(brokers), cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Topic returns the dead-letter topic.
func (q *Queue) Topic() string { return q.cfg.topic }

// RedriveLog returns the topic that records what was redriven.
func (q *Queue) RedriveLog() string { return q.cfg.logTopic }

// Close releases the queue's client. It is idempotent; calls after it
// fail.
func (q *Queue) Close() { q.cl.Close() }

// bounds returns, by partition of topic, the log start offset and the high
// watermark: what a read at this moment covers. exists is false when the
// topic does not exist.
func (q *Queue) bounds(ctx context.Context, topic string) (start, end map[int32]int64, exists bool, err error) {
	tds, err := q.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, nil, false, fmt.Errorf("dlq: metadata of %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return nil, nil, false, nil
	}
	if td.Err != nil {
		return nil, nil, false, fmt.Errorf("dlq: metadata of %s: %w", topic, td.Err)
	}
	starts, err := q.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, true, fmt.Errorf("dlq: start offsets of %s: %w", topic, err)
	}
	ends, err := q.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, true, fmt.Errorf("dlq: end offsets of %s: %w", topic, err)
	}
	start, end = map[int32]int64{}, map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) { start[o.Partition] = o.Offset })
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	return start, end, true, nil
}

// span is the offsets [from, to) of one partition to read.
type span struct{ from, to int64 }

// read calls fn with every record of topic in spans, in offset order
// within each partition, until fn returns false or every span is read.
// The records are fetched by a client of their own, without a group, so
// reading commits nothing and moves no consumer.
func (q *Queue) read(ctx context.Context, topic string, spans map[int32]span, fn func(*kgo.Record) bool) error {
	parts := map[int32]kgo.Offset{}
	for p, s := range spans {
		if s.from < s.to {
			parts[p] = kgo.NewOffset().At(s.from)
		} else {
			delete(spans, p)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{
		kgo.SeedBrokers(q.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		// Retention may delete the first records of a span before they
		// are fetched: then read from what is left.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithLogger(slogLogger{q.cfg.logger}),
	}, q.cfg.clientOpts)...)
	if err != nil {
		return fmt.Errorf("dlq: new client: %w", err)
	}
	defer cl.Close()
	for len(spans) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dlq: read %s: %w", topic, err)
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, kerr.UnknownTopicOrPartition) && fetchErr == nil {
				fetchErr = fmt.Errorf("dlq: read %s: %w: %w", topic, kafkasink.ErrTopicNotFound, err)
				return
			}
			q.cfg.logger.Warn("dlq: fetch error; retrying", "topic", t, "partition", p, "err", err)
		})
		if fetchErr != nil {
			return fetchErr
		}
		stop := false
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			s, ok := spans[fp.Partition]
			if !ok || stop {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= s.to {
					break
				}
				if !fn(r) {
					stop = true
					return
				}
				if r.Offset >= s.to-1 {
					delete(spans, fp.Partition)
					return
				}
			}
			if fp.LogStartOffset >= s.to {
				delete(spans, fp.Partition) // the rest is deleted by retention
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}

// slogLogger adapts a *slog.Logger to franz-go's Logger, at warning level
// and above.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel {
	if !s.l.Enabled(context.Background(), slog.LevelWarn) {
		return kgo.LogLevelNone
	}
	return kgo.LogLevelWarn
}

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	s.l.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}
