package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
