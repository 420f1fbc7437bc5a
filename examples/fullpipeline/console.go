package main

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/kafkasink"
)

// serveConsole puts the status page (package console) at / beside
// /metrics, over the process's metrics, its run ledger and its dead-letter
// topic, and samples its chart until ctx ends.
func (p *pipeline) serveConsole(ctx context.Context, mux *http.ServeMux) error {
	dlq := &deadLetters{client: p.producer.Client(), opts: append(slices.Clone(p.kafkaSec), kgo.SeedBrokers(p.cfg.brokers...)), topic: p.cfg.dlqTopic}
	c, err := console.New(console.WithGatherer(p.m.registry), console.WithRuns(p.ledger), console.WithDeadLetters(dlq),
		console.WithTitle("userstream fullpipeline"))
	if err != nil {
		return err
	}
	go func() { _ = c.Run(ctx) }()
	mux.Handle("/", c)
	return nil
}

// deadLetters reads the tail of the dead-letter topic for the console: a
// small reader, for showing; kafkasink/dlq lists and redrives. It reads
// the topic again only when its end offsets have moved.
type deadLetters struct {
	client *kgo.Client // borrowed, for offsets
	opts   []kgo.Opt   // seed brokers, SASL and TLS: a short-lived reader of the tail
	topic  string

	mu   sync.Mutex
	ends map[int32]int64 // end offsets of the last read
	last []console.DeadLetter
}

func (d *deadLetters) Latest(ctx context.Context, n int) ([]console.DeadLetter, error) {
	adm := kadm.NewClient(d.client)
	ends, err := adm.ListEndOffsets(ctx, d.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, d.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, from, want := map[int32]int64{}, map[int32]kgo.Offset{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		cur[o.Partition] = o.Offset
		start, _ := starts.Lookup(o.Topic, o.Partition)
		if begin := max(start.Offset, o.Offset-int64(n)); begin < o.Offset {
			from[o.Partition], want[o.Partition] = kgo.NewOffset().At(begin), o.Offset
		}
	})
	if maps.Equal(cur, d.ends) {
		return d.last, nil
	}
	out, err := d.read(ctx, from, want)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b console.DeadLetter) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.DLQOffset, a.DLQOffset))
	})
	d.ends, d.last = cur, out[:min(n, len(out))]
	return d.last, nil
}

// read consumes each partition of from up to its offset in want.
func (d *deadLetters) read(ctx context.Context, from map[int32]kgo.Offset, want map[int32]int64) ([]console.DeadLetter, error) {
	out := []console.DeadLetter{}
	if len(from) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(d.opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.topic: from}), kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fs.Err0(); err != nil {
			return nil, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, deadLetter(r))
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// deadLetter is a record of the dead-letter topic as the console shows it,
// from the headers kafkasink adds.
func deadLetter(r *kgo.Record) console.DeadLetter {
	d := console.DeadLetter{Time: r.Timestamp, DLQTopic: r.Topic, DLQPartition: r.Partition, DLQOffset: r.Offset, Value: r.Value}
	for _, h := range r.Headers { // the last of a key wins: a redriven record's latest
		switch v := string(h.Value); h.Key {
		case kafkasink.HeaderDLQReason:
			d.Reason = v
		case kafkasink.HeaderDLQError:
			d.Error = v
		case kafkasink.HeaderDLQTopic:
			d.Topic = v
		case kafkasink.HeaderDLQPartition:
			p, _ := strconv.ParseInt(v, 10, 32)
			d.Partition = int32(p)
		case kafkasink.HeaderDLQOffset:
			d.Offset, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return d
}
