package faults_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/pipeline"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/transform"
)

// pageSize is the API page size of every pipeline here, the producer's
// default; the expected users are computed with the same pages.
const pageSize = randomuser.MaxResults

var quiet = slog.New(slog.DiscardHandler)

// newConfig returns a pipeline of its own on the real servers (topic,
// dead-letter topic, group, keyspace and schema named after the test),
// fetching users users of its own seed from the offline API. Everything it
// creates is removed when the test ends.
func newConfig(t *testing.T, prefix string, users int) pipeline.Config {
	t.Helper()
	name := testenv.Name(t, prefix)
	cfg := pipeline.Config{
		Brokers:        testenv.KafkaBrokers(t),
		CassandraHosts: testenv.CassandraHosts(t),
		PostgresDSN:    testenv.PostgresDSN(t),
		Topic:          name,
		DLQTopic:       name + "_dlq",
		Partitions:     pipeline.DefaultPartitions,
		Group:          name,
		Keyspace:       name,
		Table:          cassandrastore.DefaultTable,
		Replication:    1,
		PostgresSchema: name,
		Offline:        true,
		Users:          users,
		// Not 18 characters long: the API gives those a meaning.
		Seed:      "faults-" + name[len(name)-8:],
		PageSize:  pageSize,
		Consumers: 2,
	}
	t.Cleanup(func() { dropAll(t, cfg) })
	return cfg
}

// dropAll deletes the topics, keyspace and schema of cfg. Failures are
// logged, not fatal: a server killed by a failed scenario may still be
// coming back.
func dropAll(t *testing.T, cfg pipeline.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...)); err == nil {
		if _, err := kadm.NewClient(cl).DeleteTopics(ctx, cfg.Topic, cfg.DLQTopic); err != nil {
			t.Logf("cleanup: delete topics: %v", err)
		}
		cl.Close()
	}
	if s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts); err == nil {
		if err := s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + cfg.Keyspace); err != nil {
			t.Logf("cleanup: drop keyspace: %v", err)
		}
		s.Close()
	} else {
		t.Logf("cleanup: cassandra: %v", err)
	}
	if conn, err := pgx.Connect(ctx, cfg.PostgresDSN); err == nil {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.PostgresSchema}.Sanitize()+` CASCADE`); err != nil {
			t.Logf("cleanup: drop schema: %v", err)
		}
		_ = conn.Close(ctx)
	} else {
		t.Logf("cleanup: postgres: %v", err)
	}
}

// expectedIDs returns the ids of the valid users the API serves for cfg's
// seed and user count, computed independently of the pipeline with an
// in-process offline server and the randomuser client; and, for each k,
// how many of them the first k pages hold (upTo[0] is 0).
func expectedIDs(ctx context.Context, cfg pipeline.Config) (ids map[string]struct{}, upTo []int64, err error) {
	srv, err := randomusertest.NewServer()
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	cl, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		return nil, nil, err
	}
	ids = make(map[string]struct{}, cfg.Users)
	upTo = []int64{0}
	n := 0
	for u, err := range cl.Users(ctx, randomuser.Query{Results: cfg.PageSize, Seed: cfg.Seed}, cfg.Users) {
		if err != nil {
			return nil, nil, err
		}
		row := transform.FromUser(u)
		if row.Validate() == nil {
			ids[row.ID] = struct{}{}
		}
		if n++; n%cfg.PageSize == 0 || n == cfg.Users {
			upTo = append(upTo, int64(len(ids)))
		}
	}
	return ids, upTo, nil
}

// tableIDs reads the table's row count (cassandrastore's Count) and every
// id it holds, with how often each was seen.
func tableIDs(ctx context.Context, cfg pipeline.Config) (count int64, ids map[string]int, err error) {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts)
	if err != nil {
		return 0, nil, err
	}
	defer s.Close()
	store, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.Keyspace), cassandrastore.WithTable(cfg.Table))
	if err != nil {
		return 0, nil, err
	}
	if count, err = store.Count(ctx); err != nil {
		return 0, nil, err
	}
	ids = make(map[string]int, count)
	for row, err := range store.All(ctx, 5000) {
		if err != nil {
			return 0, nil, err
		}
		ids[row.ID]++
	}
	return count, ids, nil
}

// readTopic returns every record of topic, up to the end offsets at the
// time of the call.
func readTopic(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := kadm.NewClient(adm).ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	var left int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if n := o.Offset - s.Offset; n > 0 {
			want[o.Partition] = o.Offset
			left += n
		}
	})
	if left == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// The dead-letter topic may hold records close to 1 MiB.
		kgo.FetchMaxPartitionBytes(4<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %d records left: %w", topic, left, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, fmt.Errorf("read %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < want[r.Partition] {
				out = append(out, r)
				left--
			}
		})
	}
	return out, nil
}

// header returns the value of r's last header named key.
func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

// ledger returns the last runs recorded in cfg's run ledger, newest first.
func ledger(ctx context.Context, cfg pipeline.Config) ([]pipeline.RunRecord, error) {
	pool, err := pgxpool.New(ctx, cfg.PostgresDSN)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return pipeline.NewLedger(pool, cfg.PostgresSchema).Recent(ctx, 100)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
