package ingest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/transform"
)

// countingStager stands in for *outbox.Store, as in a test of a service
// that must not need PostgreSQL: it counts, and stages nothing.
type countingStager struct{ rows int }

func (s *countingStager) Stage(_ context.Context, _ string, rows []transform.Row) (outbox.StageResult, error) {
	s.rows += len(rows)
	return outbox.StageResult{Staged: len(rows)}, nil
}

// A run of 2,500 users in pages of 1,000, from an in-process imitation of
// the Random User API. With a real outbox, pass the *outbox.Store.
func ExampleLoop_Run() {
	api, err := randomusertest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()
	client, err := randomuser.New(randomuser.WithBaseURL(api.BaseURL()))
	if err != nil {
		log.Fatal(err)
	}
	loop, err := ingest.New(client, &countingStager{}, ingest.WithPageSize(1000),
		ingest.WithPageHook(func(p ingest.Page) { fmt.Printf("page: %d staged\n", p.Staged) }))
	if err != nil {
		log.Fatal(err)
	}
	res, err := loop.Run(context.Background(), "run-1", "example-seed", 2500)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", res)
	// Output:
	// page: 1000 staged
	// page: 1000 staged
	// page: 500 staged
	// {Fetched:2500 Invalid:0 Staged:2500 Duplicates:0 Updated:0}
}

// Three runs, a millisecond apart from start to start, as -every 1ms -runs 3.
func ExampleSchedule() {
	n := 0
	s := ingest.Schedule{Every: time.Millisecond, Runs: 3}
	err := s.Run(context.Background(), func(ctx context.Context) error {
		n++
		fmt.Println("run", n)
		return nil
	})
	fmt.Println(err)
	// Output:
	// run 1
	// run 2
	// run 3
	// <nil>
}
