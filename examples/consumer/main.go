// Command consumer is the storing half of the pipeline, the seed's Spark
// job: it consumes users_created in a consumer group, validates each record
// (poison goes to users_created.dlq) and upserts the rows into Cassandra,
// committing offsets only after they are stored. Run several (or
// -consumers N) to share the partitions. It runs until SIGINT or SIGTERM,
// then finishes and commits its batch.
//
//	consumer -group userstream-cassandra -consumers 3
package main

import (
	"flag"

	"github.com/userstream/userstream/internal/pipeline"
)

func main() {
	pipeline.Main("consumer", "info", func(cfg *pipeline.Config, fs *flag.FlagSet) {
		cfg.ServerFlags(fs)
		cfg.ConsumeFlags(fs)
	}, pipeline.RunConsume)
}
