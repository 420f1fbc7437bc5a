package main

import (
	"context"
	"net/http"

	"github.com/userstream/userstream/console"
)

// serveConsole puts the status page (package console) at / beside
// /metrics, over the process's metrics and its run ledger, and samples its
// chart until ctx ends. The producer has no dead letters: the consumers'
// pages show them.
func (p *pipeline) serveConsole(ctx context.Context, mux *http.ServeMux) error {
	c, err := console.New(console.WithGatherer(p.m.registry), console.WithRuns(p.ledger), console.WithTitle("userstream producer"))
	if err != nil {
		return err
	}
	go func() { _ = c.Run(ctx) }()
	mux.Handle("/", c)
	return nil
}
