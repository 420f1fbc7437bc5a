package kafkasink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// The trap of issue 23: a bounded Run storing into a keyspace that wants
// more replicas than the cluster has. Every write fails with Unavailable,
// for good; with WithMaxHandlerAttempts, Run returns that error instead of
// retrying forever, and commits nothing.
func TestMaxHandlerAttemptsCassandraUnavailable(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	hosts := testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithLocalDC("datacenter1"))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	keyspace := testenv.Name(t, "ks")
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace),
		cassandrastore.WithReplication(cassandrastore.NetworkTopologyStrategy(map[string]int{"datacenter1": 3})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = session.ExecStmt("DROP KEYSPACE IF EXISTS " + keyspace) })
	if err := store.Migrate(ctx); err != nil { // schema changes need no quorum
		t.Fatal(err)
	}

	topic := newTopic(t, brokers, 1)
	group := testenv.Name(t, "group")
	produce(t, brokers, topic, testrows.Rows(10))
	c, err := kafkasink.NewConsumer(brokers, group, kafkasink.RowsHandler(store.UpsertMany, kafkasink.RejectedRows),
		kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd(),
		kafkasink.WithBackoff(time.Millisecond, 10*time.Millisecond), kafkasink.WithMaxHandlerAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("Run did not return before the test's deadline")
	}
	var he *kafkasink.HandlerError
	var unavailable *gocql.RequestErrUnavailable
	if !errors.As(err, &he) || !errors.As(err, &unavailable) {
		t.Fatalf("Run: %v, want a *HandlerError wrapping Cassandra's Unavailable", err)
	}
	if got := committed(t, brokers, group, topic); sum(got) != 0 {
		t.Errorf("committed %v after every write failed, want nothing", got)
	}
}
