// Package console serves a status page of a userstream pipeline: the page
// a person opens to see what ran and how it is going, beside /metrics.
//
//	c, err := console.New(
//		console.WithGatherer(registry),        // counts, rates, latency, lag
//		console.WithRuns(ledger),              // a *runledger.Ledger: recent runs
//		console.WithDeadLetters(queue),        // a *dlq.Queue: the latest dead letters
//	)
//	go c.Run(ctx)                           // samples the chart's history
//	mux.Handle("/", c)                      // or http.StripPrefix("/console", c) under "/console/"
//
// The page shows:
//
//   - the run ledger: recent runs, their status, counts per stage,
//     duration and error ([Runs], which [runledger.Ledger] implements);
//   - live totals and rates per stage (fetched, staged, published, stored,
//     dead-lettered), error counters, fetch→stored latency quantiles and
//     consumer lag per partition, all read from a [prometheus.Gatherer]
//     under the names of [Metrics] ([DefaultMetrics]: the names the SDK's
//     packages register with their WithMetrics option);
//   - freshness: how long the oldest user fetched and not yet stored has
//     waited, the largest of the hops' ages ([Metrics.Freshness]: the
//     outbox's userstream_outbox_oldest_pending_seconds and Kafka's
//     userstream_consumer_oldest_unstored_seconds), and each hop's;
//   - a chart of throughput and lag over the last minutes;
//   - the latest dead letters ([DeadLetters], which [dlq.Queue]
//     implements): reason, error, original topic, partition and offset,
//     redrive count, and a redacted preview of the payload;
//   - with [WithExplainer], a search box: a user's id in, each hop's
//     evidence out (package explain: runs, outbox versions and the relay
//     position, the Kafka record at its recorded offset, the table's
//     write time, dead letters), served as explain.json?id=.
//
// # Serving it beside /metrics
//
// [Handle] registers the operating endpoints of a process on a caller's
// *http.ServeMux: /metrics (a prometheus.Gatherer, usually the registry
// handed to the SDK's WithMetrics options), /healthz and /debug/pprof/.
// [Serve] serves a mux on an address until a context ends:
//
//	mux := http.NewServeMux()
//	console.Handle(mux, registry)
//	mux.Handle("/", c)
//	srv, err := console.Serve(ctx, ":9464", mux) // listening when it returns
//
// # Cost
//
// The page is one HTML file, a stylesheet and a small script, embedded in
// the package: no internet, no JavaScript library. The script polls
// status.json every second. A Console gathers the metrics once per
// interval ([WithInterval], default 1s) into a ring buffer of
// [WithHistory] (default 5 minutes), however many pages are open; the runs
// and dead letters are read at most once per interval too, and only while
// someone polls. [Console.Run] samples in the background, so that the chart
// shows the last minutes as soon as the page opens; without it a Console
// samples when polled.
//
// # Privacy
//
// The console never shows a dead letter's payload as it is: the preview
// keeps the JSON keys and the shape of every value (letters become x,
// digits 9) and cuts it at [WithPreviewLength] (default 240) characters. A
// value that is not text is shown as its size. The id field of a row, a
// random UUID that operators need to find a record, is kept when it
// looks like one.
//
// A Console is safe for concurrent use. Errors of a source (a ledger query,
// a dead-letter read) are shown on the page in the source's section, not
// returned.
package console
