package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// -replay-from and -dry-run: the time is RFC 3339, and -dry-run needs it.
func TestReplayFlags(t *testing.T) {
	parse := func(args ...string) (config, error) {
		fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseFlags(fs, args)
	}
	c, err := parse("-replay-from", "2026-12-01T10:00:00Z", "-dry-run")
	if want := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC); err != nil || !c.replayFrom.Equal(want) || !c.dryRun {
		t.Errorf("parsed %v, %v, %v; want %v and a dry run", c.replayFrom, c.dryRun, err, want)
	}
	if c, err := parse(); err != nil || !c.replayFrom.IsZero() || c.dryRun {
		t.Errorf("defaults: %v, %v, %v", c.replayFrom, c.dryRun, err)
	}
	if _, err := parse("-dry-run"); err == nil {
		t.Error("-dry-run without -replay-from: no error")
	}
	if _, err := parse("-replay-from", "yesterday"); err == nil {
		t.Error("-replay-from yesterday: no error")
	}
}

// The command's replay on the real cluster: the dry run prints the plan
// and moves nothing, also while a member runs; the replay refuses while it
// runs, and once it stops moves the group back to the records stamped
// from the time on, and says so.
func TestReplayCommand(t *testing.T) {
	name := testenv.Name(t, "replay")
	cfg := config{brokers: testenv.KafkaBrokers(t), topic: name, dlqTopic: name + "_dlq", group: name, replication: 1}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, spec := range []kafkasink.TopicSpec{{Name: cfg.topic, Partitions: 3, ReplicationFactor: 1}, {Name: cfg.dlqTopic, Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, spec); err != nil {
			t.Fatal(err)
		}
	}
	// 30 records stamped just before the time, then 60 at it.
	cfg.replayFrom = time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, row := range testrows.Rows(90) {
		rec, err := kafkasink.NewRecord(cfg.topic, row)
		if err != nil {
			t.Fatal(err)
		}
		rec.Timestamp = cfg.replayFrom
		if i < 30 {
			rec.Timestamp = cfg.replayFrom.Add(-time.Millisecond)
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The group has stored everything.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, cfg.topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.CommitAllOffsets(ctx, cfg.group, ends.Offsets()); err != nil {
		t.Fatal(err)
	}
	atEnd := groupOffsets(ctx, t, adm, cfg)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	do := func(dryRun bool) (string, error) {
		c := cfg
		c.dryRun = dryRun
		var out bytes.Buffer
		err := replay(ctx, c, log, &out)
		return out.String(), err
	}

	// A member runs.
	member, err := kafkasink.NewConsumer(cfg.brokers, cfg.group, func(context.Context, []kafkasink.Message) error { return nil },
		kafkasink.WithTopic(cfg.topic), kafkasink.WithDLQTopic(cfg.dlqTopic), kafkasink.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- member.Run(runCtx) }()
	waitFor(ctx, t, "the member in the group", func() bool { return len(groupMembers(ctx, adm, cfg)) == 1 })

	out, err := do(true)
	if err != nil || !strings.Contains(out, "(dry run, nothing moved)") || !strings.Contains(out, "60 records would be read again") {
		t.Errorf("dry run while a member runs: %v\n%s", err, out)
	}
	if _, err := do(false); !errors.Is(err, kafkasink.ErrGroupActive) {
		t.Errorf("replay while a member runs: %v, want ErrGroupActive", err)
	} else {
		t.Logf("refused: %v", err)
	}
	if got := groupOffsets(ctx, t, adm, cfg); !maps.Equal(got, atEnd) {
		t.Errorf("offsets %v moved from %v before the replay", got, atEnd)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the member gone", func() bool { return len(groupMembers(ctx, adm, cfg)) == 0 })

	out, err = do(false)
	if err != nil || !strings.Contains(out, "(applied)") || !strings.Contains(out, "60 records will be read again") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	t.Logf("the command printed:\n%s", out)
	var left int64
	for _, o := range groupOffsets(ctx, t, adm, cfg) {
		left += o
	}
	if left != 30 {
		t.Errorf("the group's offsets add up to %d after the replay, want the 30 records before the time", left)
	}
}

// groupOffsets returns the group's committed offsets by partition.
func groupOffsets(ctx context.Context, t *testing.T, adm *kadm.Client, cfg config) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(ctx, cfg.group)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == cfg.topic {
			m[o.Partition] = o.At
		}
	})
	return m
}

// groupMembers returns the group's member ids; none when the group is
// unknown or cannot be described.
func groupMembers(ctx context.Context, adm *kadm.Client, cfg config) []string {
	d, err := adm.DescribeGroups(ctx, cfg.group)
	if err != nil {
		return nil
	}
	var ids []string
	for _, m := range d[cfg.group].Members {
		ids = append(ids, m.MemberID)
	}
	return ids
}
