package kafkasink_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

var exampleRow = transform.Row{
	ID: "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", FirstName: "Ruben", LastName: "Sjøberg",
	Gender: "male", Address: "7161 Kirkegata, Tolga, Vestfold, Norway", PostCode: "5106",
	Email: "ruben.sjoberg@example.com", Username: "bigduck417", DOB: "1992-03-08T15:13:16.688Z",
	RegisteredDate: "2008-04-26T07:39:25.347Z", Phone: "55148291",
	Picture: "https://randomuser.me/api/portraits/med/men/12.jpg",
}

// A producer writes a row with the time it was fetched and learns its
// outcome; a bounded consumer hands it to a handler, commits after it, and
// returns once it has committed everything that was there when it started.
// The example runs against kfake, franz-go's in-process fake broker, so it
// needs no server; point brokers at a real cluster the same way.
func Example() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	p, err := kafkasink.NewProducer(brokers)
	if err != nil {
		panic(err)
	}
	defer p.Close()
	fetched := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	deliveries, err := p.ProduceFetchedSync(ctx, kafkasink.FetchedRow{Row: exampleRow, FetchedAt: fetched})
	if err != nil {
		panic(err)
	}
	fmt.Println("delivered at offset", deliveries[0].Offset)

	handler := func(_ context.Context, msgs []kafkasink.Message) error {
		for _, m := range msgs {
			fmt.Println("handled", m.Row.FirstName, m.Row.LastName, "from offset", m.Offset,
				"fetched at", m.FetchedAt.UTC().Format(time.Kitchen))
		}
		return nil // the offsets are committed after this returns nil
	}
	c, err := kafkasink.NewConsumer(brokers, "example", handler, kafkasink.WithStopAtEnd())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", c.Stats())
	// Output:
	// delivered at offset 0
	// handled Ruben Sjøberg from offset 0 fetched at 12:00PM
	// {Handled:1 DeadLettered:0 Rejected:0 Committed:1 Retries:0}
}

// memStore is a store whose bulk write reports the rows it refuses by their
// index, as cassandrastore's UpsertMany does with a *WriteError of
// RowErrors.
type memStore struct {
	mu   sync.Mutex
	rows map[string]transform.Row
}

var errReserved = errors.New("username reserved")

type refusedRow struct {
	Index int
	Err   error
}

type refusedRows []refusedRow

func (r refusedRows) Error() string { return fmt.Sprintf("%d rows refused", len(r)) }

func (s *memStore) UpsertMany(_ context.Context, rows []transform.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var refused refusedRows
	for i, r := range rows {
		if r.Username == "admin" {
			refused = append(refused, refusedRow{i, errReserved})
			continue
		}
		s.rows[r.ID] = r
	}
	if refused != nil {
		return refused
	}
	return nil
}

// A store's bulk write is the handler. Rows it refuses for good go to the
// dead-letter topic (here created by Run) with a reason; the others are
// stored and committed. Any other error from the store would be retried.
func ExampleRowsHandler() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "users"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic("users"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	admin := exampleRow
	admin.ID, admin.Username = "1f0e8d5a-8a36-4d0c-9d47-7e1f5d3a2b10", "admin"
	if _, err := p.ProduceSync(ctx, exampleRow, admin); err != nil {
		panic(err)
	}

	store := &memStore{rows: map[string]transform.Row{}}
	reject := func(err error) []kafkasink.Rejection {
		var refused refusedRows
		if !errors.As(err, &refused) {
			return nil // not a refusal: an outage, retried
		}
		out := make([]kafkasink.Rejection, len(refused))
		for i, r := range refused {
			out[i] = kafkasink.Rejection{Index: r.Index, Reason: "refused-by-store", Err: r.Err}
		}
		return out
	}
	c, err := kafkasink.NewConsumer(brokers, "store-users", kafkasink.RowsHandler(store.UpsertMany, reject),
		kafkasink.WithTopic("users"), kafkasink.WithCreateDLQ(1, 1), kafkasink.WithStopAtEnd())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("stored", len(store.rows), "row; dead-letter topic", c.DLQTopic())
	fmt.Printf("%+v\n", c.Stats())

	dlq, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(c.DLQTopic()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer dlq.Close()
	rec := dlq.PollFetches(ctx).Records()[0]
	for _, h := range rec.Headers {
		if h.Key == kafkasink.HeaderDLQReason || h.Key == kafkasink.HeaderDLQError {
			fmt.Printf("%s: %s\n", h.Key, h.Value)
		}
	}
	// Output:
	// stored 1 row; dead-letter topic users.dlq
	// {Handled:1 DeadLettered:1 Rejected:1 Committed:2 Retries:0}
	// dlq-reason: refused-by-store
	// dlq-error: username reserved
}

// A handler may reject messages itself, with the reason and error that the
// dead-letter record carries; the rest of its batch is handled.
func ExampleReject() {
	handler := func(ctx context.Context, msgs []kafkasink.Message) error {
		var rejected []kafkasink.Rejection
		for i, m := range msgs {
			if m.Row.Phone == "" {
				rejected = append(rejected, kafkasink.Rejection{Index: i, Reason: "no-phone", Err: errors.New("phone required")})
			}
		}
		return kafkasink.Reject(rejected...) // nil when none
	}
	msgs := []kafkasink.Message{{Row: exampleRow}, {Row: transform.Row{ID: "x"}}}
	err := handler(context.Background(), msgs)
	var rej *kafkasink.RejectError
	fmt.Println(errors.As(err, &rej), rej.Rejected[0].Index, err)
	// Output:
	// true 1 kafkasink: 1 message(s) rejected; message 1 (no-phone): phone required
}

// EnsureTopic creates the topic with the partitions and configs given, and
// reports whether it existed.
func ExampleEnsureTopic() {
	cluster, err := kfake.NewCluster()
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec := kafkasink.TopicSpec{
		Name: kafkasink.DefaultTopic, Partitions: 6, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "604800000"},
	}
	for range 2 {
		created, err := kafkasink.EnsureTopic(ctx, cl, spec)
		fmt.Println(created, err)
	}
	// Output:
	// true <nil>
	// false <nil>
}

// versionedStore applies changes at their versions: an older version than
// the one stored, row or delete, loses (Cassandra's USING TIMESTAMP does
// the same).
type versionedStore struct {
	rows    map[string]transform.Row
	version map[string]int64
}

func (s *versionedStore) ApplyMany(_ context.Context, changes []transform.Change) error {
	for _, c := range changes {
		if c.Version != 0 && c.Version < s.version[c.Row.ID] {
			continue // a newer version is stored
		}
		s.version[c.Row.ID] = c.Version
		if c.Delete {
			delete(s.rows, c.Row.ID)
		} else {
			s.rows[c.Row.ID] = c.Row
		}
	}
	return nil
}

// A versioned outbox writes each record with a row-version header, and a
// delete as a tombstone (the header, the user's id as key, a null value).
// ChangesHandler hands the store rows and deletes with their versions, so
// an old version arriving late does not bring a deleted user back.
func ExampleChangesHandler() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "users"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	version := func(v string) []kgo.RecordHeader {
		return []kgo.RecordHeader{{Key: kafkasink.HeaderRowVersion, Value: []byte(v)}}
	}
	upsert, err := kafkasink.NewRecord("users", exampleRow)
	if err != nil {
		panic(err)
	}
	upsert.Headers = append(upsert.Headers, version("1700000000000001")...)
	deleted := &kgo.Record{Topic: "users", Key: []byte(exampleRow.ID), Headers: version("1700000000000002")}
	late := *upsert // the first version again, redelivered after the delete
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, upsert, deleted, &late).FirstErr(); err != nil {
		panic(err)
	}

	store := &versionedStore{rows: map[string]transform.Row{}, version: map[string]int64{}}
	c, err := kafkasink.NewConsumer(brokers, "store-users", kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows),
		kafkasink.WithTopic("users"), kafkasink.WithCreateDLQ(1, 1), kafkasink.WithStopAtEnd())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("rows stored:", len(store.rows), "version kept:", store.version[exampleRow.ID])
	// Output:
	// rows stored: 0 version kept: 1700000000000002
}
