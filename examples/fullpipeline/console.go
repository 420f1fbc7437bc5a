package main

import (
	"context"
	"net/http"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/kafkasink/dlq"
)

// serveConsole puts the status page (package console) at / beside
// /metrics, over the process's metrics, its run ledger and its dead-letter
// topic, and samples its chart until ctx ends. The dead letters are read
// by kafkasink/dlq, the package that lists and redrives them (examples/dlq):
// the page shows what `dlq list` would.
func (p *pipeline) serveConsole(ctx context.Context, mux *http.ServeMux) error {
	q, err := dlq.New(p.cfg.brokers, dlq.WithDLQTopic(p.cfg.dlqTopic), dlq.WithClientOpts(p.kafkaSec...))
	if err != nil {
		return err
	}
	c, err := console.New(console.WithGatherer(p.m.registry), console.WithRuns(p.ledger), console.WithDeadLetters(q),
		console.WithTitle("userstream fullpipeline"))
	if err != nil {
		q.Close()
		return err
	}
	go func() {
		_ = c.Run(ctx)
		q.Close()
	}()
	mux.Handle("/", c)
	return nil
}
