package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// background runs the relay and the consumers until stopped. When one
// fails, the others and the run in progress stop too: nothing would drain.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func (p *pipeline) startBackground(ctx context.Context) {
	b := &background{}
	b.ctx, b.cancel = context.WithCancel(ctx)
	b.start("relay", p.relay.Run)
	for i, c := range p.consumers {
		b.start(fmt.Sprintf("consumer %d", i), c.Run)
	}
	p.bg = b
}

func (b *background) start(name string, run func(context.Context) error) {
	b.wg.Go(func() {
		if err := run(b.ctx); err != nil {
			b.mu.Lock()
			b.err = errors.Join(b.err, fmt.Errorf("%s: %w", name, err))
			b.mu.Unlock()
			b.cancel()
		}
	})
}

func (b *background) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// stop ends the relay and the consumers gracefully (the relay commits its
// batch, the consumers finish and commit theirs) and returns what failed.
func (b *background) stop() error {
	b.cancel()
	b.wg.Wait()
	return b.failure()
}

// schedule calls run now and then every every, runs times in all (0: until
// ctx ends); with every 0, once.
func schedule(ctx context.Context, every time.Duration, runs int, log *slog.Logger, run func() error) error {
	for n := 1; ; n++ {
		start := time.Now()
		if err := run(); err != nil {
			return err
		}
		if every <= 0 || (runs > 0 && n >= runs) {
			return nil
		}
		next := start.Add(every)
		log.Info("next run scheduled", "at", next.Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
}
