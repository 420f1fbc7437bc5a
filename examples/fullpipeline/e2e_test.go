package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/runledger"
)

// 20,000 users through the real stack: rows in Cassandra are exactly the
// unique users fetched, the dead-letter topic is empty; fetching the same
// users again changes nothing.
func TestEndToEnd(t *testing.T) {
	cfg := testConfig(t, 20000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cfg.metricsAddr = freeAddr(t)
	// kprom's metrics live as long as their client: watch for them while
	// the pipeline runs.
	var seenKafka atomic.Int32
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := http.Get("http://" + cfg.metricsAddr + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "userstream_kafka_producer_write_bytes_total") &&
				strings.Contains(string(b), "userstream_kafka_consumer_read_bytes_total") {
				seenKafka.Store(1)
			}
		}
	}()
	var out bytes.Buffer
	reports, err := run(ctx, cfg, quiet, &out)
	close(stopWatch)
	<-watched
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, out.String())
	}
	if seenKafka.Load() == 0 {
		t.Error("/metrics never showed kprom's producer and consumer metrics during the run")
	}
	// The metrics endpoint lives as long as ctx: scrape what the run left.
	metrics := get(t, "http://"+cfg.metricsAddr+"/metrics")
	for _, want := range []string{
		"userstream_users_fetched_total 20000",
		"userstream_users_staged_total 20000",
		"userstream_rows_stored_total 20000",
		// Every stored row's latency from fetch, through the outbox's
		// fetch time and the records' fetched-at header.
		"userstream_fetch_to_store_seconds_count 20000",
		"userstream_produce_to_store_seconds_count 20000",
		fmt.Sprintf(`userstream_consumer_lag{group=%q,partition="0",topic=%q} 0`, cfg.group, cfg.topic),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := get(t, "http://"+cfg.metricsAddr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	cfg.metricsAddr = "" // the second run must not take the port again
	r := reports[0]
	if r.Status != runledger.StatusSucceeded || r.Verification == nil {
		t.Fatalf("first run: %+v\n%s", r, out.String())
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.P99 > 5*time.Minute {
		t.Errorf("fetch-to-stored latency p50 %v, p99 %v", r.P50, r.P99)
	}
	v := r.Verification
	if r.Fetched != 20000 || v.Unique != 20000 || v.Found != v.Unique {
		t.Errorf("fetched %d, unique %d, found %d: want 20,000 each", r.Fetched, v.Unique, v.Found)
	}
	if r.TableRows != int64(v.Unique) {
		t.Errorf("table holds %d rows, want exactly the %d unique users", r.TableRows, v.Unique)
	}
	if r.Staged != 20000 || r.Published != 20000 || r.Stored < 20000 {
		t.Errorf("staged %d, published %d, stored %d: want 20,000 each", r.Staged, r.Published, r.Stored)
	}
	if r.DeadLetters != 0 || r.DeadLettered != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0", r.DeadLetters)
	}

	// The same seed again: every user is a duplicate, nothing changes.
	out.Reset()
	reports, err = run(ctx, cfg, quiet, &out)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	r2 := reports[0]
	if r2.Staged != 0 || r2.Duplicates != 20000 || r2.Published != 0 || r2.Stored != 0 {
		t.Errorf("second run staged %d, duplicates %d, published %d, stored %d: want 0, 20,000, 0, 0",
			r2.Staged, r2.Duplicates, r2.Published, r2.Stored)
	}
	if r2.TableRows != r.TableRows || r2.DeadLetters != 0 {
		t.Errorf("second run: table %d rows (was %d), dead letters %d", r2.TableRows, r.TableRows, r2.DeadLetters)
	}

	// The ledger recorded both runs.
	pool, err := pgxpool.New(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ledger, err := runledger.New(pool, runledger.WithSchema(cfg.pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := ledger.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].RunID != r2.RunID || runs[1].Staged != 20000 || runs[0].Duplicates != 20000 ||
		runs[0].Status != runledger.StatusSucceeded || runs[0].EndedAt == nil {
		t.Errorf("ledger = %+v", runs)
	}
	if !strings.Contains(out.String(), "verified     20,000 of 20,000") {
		t.Errorf("summary does not report the verification:\n%s", out.String())
	}
}

// The pipeline in registry mode (-schema-registry), against the local
// stack's registry: the relay's records are in the Confluent wire format
// under the schema registered for <topic>-value, and every user is stored,
// none dead-lettered.
func TestEndToEndSchemaRegistry(t *testing.T) {
	cfg := testConfig(t, 2000)
	cfg.schemaRegistry = testenv.SchemaRegistryURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	reports, err := run(ctx, cfg, quiet, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	r := reports[0]
	if r.Status != runledger.StatusSucceeded || r.Verification == nil || r.Verification.Found != r.Verification.Unique ||
		r.TableRows != int64(r.Verification.Unique) || r.Published != 2000 || r.DeadLetters != 0 || r.DeadLettered != 0 {
		t.Fatalf("run: %+v\n%s", r, out.String())
	}

	reg, err := sr.NewClient(sr.URLs(cfg.schemaRegistry))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := reg.SchemaByVersion(ctx, kafkasink.ValueSubject(cfg.topic), -1)
	if err != nil {
		t.Fatalf("the subject of %s: %v", cfg.topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) == 0 && ctx.Err() == nil {
		recs = cl.PollFetches(ctx).Records()
	}
	for _, rec := range recs {
		if len(rec.Value) < 5 || rec.Value[0] != 0 || int(binary.BigEndian.Uint32(rec.Value[1:5])) != latest.ID {
			t.Fatalf("record value %q is not in the wire format with schema id %d", rec.Value[:min(len(rec.Value), 8)], latest.ID)
		}
	}
}

// With -change-share, run i of the process is day i of the offline API: the
// second and third runs stage the changed users as new versions (about a
// quarter each), publish and store them, and the check finds every user's
// latest values in Cassandra, not the first version.
func TestEndToEndChangeShare(t *testing.T) {
	cfg := testConfig(t, 4000)
	cfg.changeShare, cfg.every, cfg.runs = 0.25, time.Millisecond, 3
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	reports, err := run(ctx, cfg, quiet, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3\n%s", len(reports), out.String())
	}
	if r := reports[0]; r.Staged != 4000 || r.Updated != 0 {
		t.Errorf("first run staged %d, updated %d: want 4,000 new users", r.Staged, r.Updated)
	}
	for i, r := range reports {
		v := r.Verification
		if r.Status != runledger.StatusSucceeded || v == nil || v.Unique != 4000 || v.Found != 4000 || v.Stale != 0 || r.TableRows != 4000 {
			t.Fatalf("run %d: %+v, verification %+v\n%s", i, r.Run, v, out.String())
		}
		if i == 0 {
			continue
		}
		// A quarter of 4,000 change each day: 1,000 on average, far
		// outside 500-1,500 only with a broken offline API.
		if r.Updated < 500 || r.Updated > 1500 || r.Staged != r.Updated || r.Duplicates != 4000-r.Updated ||
			r.Published != r.Updated || r.Stored < r.Updated {
			t.Errorf("run %d: staged %d, updated %d, duplicates %d, published %d, stored %d: want the changed users staged, published and stored",
				i, r.Staged, r.Updated, r.Duplicates, r.Published, r.Stored)
		}
	}
	if !strings.Contains(out.String(), fmt.Sprintf("staged       0 new and %s updated users", thousands(reports[1].Updated))) {
		t.Errorf("summary does not report the updates:\n%s", out.String())
	}
}
