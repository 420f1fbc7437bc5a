package main

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumerFetchOpts bound what a consumer buffers while Cassandra falls
// behind. franz-go's defaults (1 MiB per partition, 50 MiB per fetch) let
// a buffered fetch of the six partitions hold about 15 MB of decompressed
// rows; with a Cassandra stall of 4 s in a 150,000-user run that took the
// pipeline from 58-61 to 67-70 MB resident and, near the soft memory
// limit, from 5.7-6.0 to 8.1-8.4 CPU-seconds of mostly garbage
// collection. 256 KiB per partition is still hundreds of rows per fetch.
var consumerFetchOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(256 << 10), kgo.FetchMaxBytes(2 << 20)}

// instanceID returns consumer i's static group member id (-instance-id):
// the id itself, or id-i when the process runs several consumers, since
// two live members with one id fence each other. Empty: a dynamic member.
func instanceID(id string, consumers, i int) string {
	if id == "" || consumers <= 1 {
		return id
	}
	return fmt.Sprintf("%s-%d", id, i)
}
