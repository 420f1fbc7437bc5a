// Command producer is the ingest half of the pipeline, the seed's Airflow
// task: it fetches users from the Random User API, stages them in the
// PostgreSQL outbox and relays them to the Kafka topic users_created, once or
// on a schedule (-every). Run examples/consumer to store them in Cassandra.
//
//	producer -offline -users 20000 -every 24h
package main

import (
	"flag"

	"github.com/userstream/userstream/internal/pipeline"
)

func main() {
	pipeline.Main("producer", "warn", func(cfg *pipeline.Config, fs *flag.FlagSet) {
		cfg.ServerFlags(fs)
		cfg.IngestFlags(fs)
	}, pipeline.RunIngest)
}
