package kafkasink_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// assignments records the partitions a consumer logs as assigned to it,
// one entry per assignment.
type assignments struct {
	mu  sync.Mutex
	got []string
}

func (a *assignments) Enabled(context.Context, slog.Level) bool { return true }
func (a *assignments) WithAttrs([]slog.Attr) slog.Handler       { return a }
func (a *assignments) WithGroup(string) slog.Handler            { return a }
func (a *assignments) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "kafkasink: partitions assigned" {
		return nil
	}
	r.Attrs(func(at slog.Attr) bool {
		if at.Key == "partitions" {
			a.mu.Lock()
			a.got = append(a.got, fmt.Sprint(at.Value.Any()))
			a.mu.Unlock()
		}
		return true
	})
	return nil
}

// nonEmpty returns the assignments that gave the consumer partitions (a
// cooperative rebalance also reports empty ones).
func (a *assignments) nonEmpty() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, g := range a.got {
		if g != "map[]" {
			out = append(out, g)
		}
	}
	return out
}

// stableMembers returns, by instance id, the partitions of each member of a
// stable group that holds any, or nil while the group is not stable.
func stableMembers(t *testing.T, brokers []string, group, topic string) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil || groups[group].Err != nil || groups[group].State != "Stable" {
		return nil
	}
	out := map[string]string{}
	for _, m := range groups[group].Members {
		as, ok := m.Assigned.AsConsumer()
		if m.InstanceID == nil || !ok {
			return nil
		}
		var parts []int32
		for _, tp := range as.Topics {
			if tp.Topic == topic {
				parts = append(parts, tp.Partitions...)
			}
		}
		if len(parts) == 0 {
			// A cooperative rebalance is two rounds, and the group is
			// Stable between them with the joining member still empty:
			// leave it out, so that a caller waiting for both members
			// with partitions waits for the second round.
			continue
		}
		slices.Sort(parts)
		out[*m.InstanceID] = fmt.Sprint(map[string][]int32{topic: parts})
	}
	return out
}

// A static member (WithInstanceID) that stops and comes back with the same
// id takes its partitions back without a rebalance: the group's generation
// does not move, the other member keeps its partitions, and the new
// process handles what arrives on the old one's partitions.
func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 4)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(200)
	produce(t, brokers, topic, rows[:100])

	opts := func(id string, log *assignments) []kafkasink.ConsumerOpt {
		return []kafkasink.ConsumerOpt{kafkasink.WithInstanceID(id), kafkasink.WithSessionTimeout(30 * time.Second),
			kafkasink.WithLogger(slog.New(log))}
	}
	logA, logB, logA2 := &assignments{}, &assignments{}, &assignments{}
	a := start(t, brokers, topic, group, newCollector().handle, opts("a", logA)...)
	start(t, brokers, topic, group, newCollector().handle, opts("b", logB)...)
	waitFor(t, "the first rows committed", func() bool { return sum(committed(t, brokers, group, topic)) == 100 })
	var before map[string]string
	waitFor(t, "a stable group of a and b, each with partitions", func() bool {
		before = stableMembers(t, brokers, group, topic)
		return len(before) == 2 && before["a"] != "" && before["b"] != ""
	})

	if err := a.shutdown(t); err != nil {
		t.Fatalf("Run of a: %v", err)
	}
	again := newCollector()
	start(t, brokers, topic, group, again.handle, opts("a", logA2)...)
	produce(t, brokers, topic, rows[100:])
	waitFor(t, "every row committed", func() bool { return sum(committed(t, brokers, group, topic)) == 200 })

	// b was given partitions once, when the group formed: a's stop gave it
	// none of a's (a dynamic member would have left, and b taken them).
	if got := logB.nonEmpty(); len(got) != 1 {
		t.Errorf("b was assigned partitions %d times (%v), want once: a's restart moved partitions", len(got), got)
	}
	// The new a got exactly the old one's partitions, in one assignment.
	if got := logA2.nonEmpty(); len(got) != 1 || got[0] != before["a"] {
		t.Errorf("the restarted a was assigned %v, want once %s, as before its stop", got, before["a"])
	}
	if after := stableMembers(t, brokers, group, topic); after["b"] != before["b"] {
		t.Errorf("b holds %s after a's restart, %s before", after["b"], before["b"])
	}
	if again.count() == 0 {
		t.Error("the restarted member handled no rows")
	}
}
