//go:build network

package faults_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/devstack"
)

// registryLookupRetry is what a consumer logs when it could not look a
// schema id up and tries again (kafkasink's retry of the "schema lookup").
const registryLookupRetry = "schema lookup failed; retrying"

// registryEnv returns the environment that puts the pipeline's processes
// in registry mode, with the stack's schema registry.
func registryEnv(t *testing.T) []string {
	t.Helper()
	url := os.Getenv("USERSTREAM_TEST_SCHEMA_REGISTRY_URL")
	if url == "" {
		t.Fatal("USERSTREAM_TEST_SCHEMA_REGISTRY_URL is unset: run the scenario with USERSTREAM_REGISTRY=1 internal/devstack/devstack run ... (make faults-network)")
	}
	return []string{"USERSTREAM_SCHEMA_REGISTRY_URL=" + url}
}

// deadLettered is what a consumer logs for each record it dead-letters.
const deadLettered = "poison record dead-lettered"

// waitLog waits until p's log holds one of ss, and returns the first line
// that holds one, and which.
func waitLog(ctx context.Context, p *proc, ss ...string) (line, found string, err error) {
	for {
		if b, err := os.ReadFile(p.stderr.f.Name()); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				for _, s := range ss {
					if strings.Contains(l, s) {
						return l, s, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("waiting for %q in %s's log: %w", ss, p.name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRegistryKilled SIGKILLs the schema registry during a run in
// registry mode (Confluent wire format, the value schema registered by the
// producer at its start) and makes the consumers need it while it is
// down. Once the group has committed the users of the first 30% of the
// pages, the registry is killed, one of the two consumer processes is
// SIGKILLed and restarted (its schema cache is then cold) and the gate
// opens: the producer, which holds its schema id, must publish the rest
// with the registry down; the other consumer, whose cache has the id,
// stores its partitions; the restarted one must retry its lookups, not
// dead-letter the records. Once the producer has published everything
// and the restarted consumer has failed a lookup, the registry is started
// again, and the consumer must resume. The usual checks follow: 0
// missing, 0 extra, 0 dead letters.
func TestRegistryKilled(t *testing.T) {
	env := registryEnv(t)
	su := setup{name: "registry_sigkill", faults: "schema registry SIGKILLed at 30% consumed, a consumer restarted cold while it is down, registry restarted once everything was published",
		consumers: []int{1, 1}, hold: 0.3, users: faultUsers(t), producerEnv: env, consumerEnv: env}
	st := newStack(t)
	t.Cleanup(func() { // the registry is not one of ensureUp's three
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := st.dev(t).Start(ctx, devstack.Registry); err != nil {
			t.Errorf("start the registry: %v", err)
		}
	})
	var (
		w             *rssWatch
		restartedCold *proc
		registryBack  time.Time
	)
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		pages := r.gate.limit()
		if _, err := r.committedUpTo(ctx, pages); err != nil {
			return err
		}
		at := r.stack.kill(r.t, devstack.Registry)
		cold := r.consumers()[1]
		killed, _, ok := cold.killAndRestart()
		if !ok {
			return fmt.Errorf("%s could not be restarted", cold.name)
		}
		r.t.Logf("%s SIGKILLed and restarted with a cold schema cache, %s after the registry", cold.current().name, secs(killed.Sub(at)))
		r.gate.open()
		if _, err := r.publishedUpTo(ctx, r.pages); err != nil {
			return fmt.Errorf("the producer with the registry down: %w", err)
		}
		r.t.Logf("the producer published every user with the registry down")
		// The restarted consumer has records it cannot decode without the
		// registry: it retries the lookup, or (a bug) dead-letters them.
		line, found, err := waitLog(ctx, cold.current(), registryLookupRetry, deadLettered)
		if err != nil {
			return err
		}
		if found == deadLettered {
			return fmt.Errorf("%s dead-lettered a record while the registry was down: %s", cold.current().name, line)
		}
		back := r.stack.start(r.t, devstack.Registry)
		r.record(event{what: "registry SIGKILL, a consumer restarted cold meanwhile", at: at, back: back, stages: stageConsume})
		restartedCold, registryBack = cold.current(), back
		return nil
	})
	networkFigures(t, r, w)
	// The restarted consumer resumes once its lookups reach the registry,
	// which may be before devstack's probe (a registration) says it is
	// ready: so from its own start, and from the registry's.
	if d, ok := restartedCold.storingAfter(restartedCold.started); ok {
		t.Logf("registry_sigkill: the consumer restarted cold, %s, stored its first row %s after its start, %s after the registry answered again",
			restartedCold.name, secs(d), strconv.FormatFloat(time.Unix(0, restartedCold.firstAt.Load()).Sub(registryBack).Seconds(), 'f', 1, 64)+" s")
	} else {
		t.Errorf("the consumer restarted cold, %s, never stored a row", restartedCold.name)
	}
	n := countLines(t, r, "consumer", registryLookupRetry)
	t.Logf("registry_sigkill: schema lookups retried %d times by the consumers", n)
}
