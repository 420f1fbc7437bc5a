package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// Environment of the relay process that TestRelayKilledMidBatch starts.
const (
	helperEnv       = "OUTBOX_TEST_HELPER_RELAY"
	helperSchemaEnv = "OUTBOX_TEST_HELPER_SCHEMA"
	helperTopicEnv  = "OUTBOX_TEST_HELPER_TOPIC"
	helperKillAtEnv = "OUTBOX_TEST_HELPER_KILL_AT_BATCH"
	crashBatch      = 500
)

// TestRelayKilledMidBatch kills a relay process after the broker
// acknowledged a batch and before the batch's transaction committed, then
// lets a fresh relay finish. Every staged row must be in the topic; the
// killed batch may be there twice, nothing more.
func TestRelayKilledMidBatch(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 3)
	ctx := testContext(t, 60*time.Second)
	const n = 3 * crashBatch
	rows := testrows.Rows(n)
	if _, err := store.Stage(ctx, "crash", rows); err != nil {
		t.Fatal(err)
	}

	// The relay process commits its first batch, produces its second and
	// SIGKILLs itself before moving the position past it.
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperRelayProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		helperSchemaEnv+"="+store.Schema(),
		helperTopicEnv+"="+topic,
		helperKillAtEnv+"=2",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("relay process: %v, want it killed\n%s", err, out.Bytes())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("relay process ended with %v, want SIGKILL\n%s", err, out.Bytes())
	}
	if c := counts(t, store); c.Published != crashBatch || c.Pending != n-crashBatch {
		t.Fatalf("after the crash: %+v, want the first batch published and the rest pending", c)
	}

	// A normal relay finishes the job.
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithRoundSize(crashBatch))
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 30*time.Second)

	keys, total := topicKeys(t, brokers, topic)
	for _, r := range rows {
		if keys[r.ID] == 0 {
			t.Fatalf("row %s was lost", r.ID)
		}
	}
	dups := total - len(keys)
	t.Logf("topic: %d records, %d distinct keys, %d duplicates", total, len(keys), dups)
	if len(keys) != n {
		t.Fatalf("topic has %d distinct keys, want %d", len(keys), n)
	}
	// The killed batch was acknowledged, so it is in the topic twice: the
	// duplicates are exactly that batch.
	if dups < 1 || dups > crashBatch {
		t.Fatalf("%d duplicates, want between 1 and one batch (%d)", dups, crashBatch)
	}
}

// TestHelperRelayProcess is not a test: it is the relay process of
// TestRelayKilledMidBatch, which runs the test binary again with helperEnv
// set.
func TestHelperRelayProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestRelayKilledMidBatch")
	}
	killAt, err := strconv.Atoi(os.Getenv(helperKillAtEnv))
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t)
	store, err := outbox.NewStore(pool, outbox.WithSchema(os.Getenv(helperSchemaEnv)))
	if err != nil {
		t.Fatal(err)
	}
	brokers := testenv.KafkaBrokers(t)
	batch := 0
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, os.Getenv(helperTopicEnv)),
		outbox.WithRoundSize(crashBatch),
		outbox.AfterProduce(func() {
			if batch++; batch == killAt {
				// No deferred function, no flush, no rollback: a
				// crash as the kernel's OOM killer would do it.
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := relay.RelayOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
