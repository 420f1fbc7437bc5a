package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Report is what one run did, as the summary shows it.
type Report struct {
	RunRecord
	Duration     time.Duration
	Verification *Verification // nil when not verified
	TableRows    int64         // rows in the table after the run (-1 when not counted)
	DeadLetters  int64         // records in the dead-letter topic
	P50, P99     time.Duration // fetch-to-stored latency
}

// since returns the counts of r less those of base: one run's share of
// counters that keep running across runs.
func (r RunRecord) since(base RunRecord) RunRecord {
	r.Fetched -= base.Fetched
	r.Staged -= base.Staged
	r.Duplicates -= base.Duplicates
	r.Invalid -= base.Invalid
	r.Published -= base.Published
	r.Stored -= base.Stored
	r.DeadLettered -= base.DeadLettered
	return r
}

// background runs the relay and/or the consumers until Stop.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func (p *Pipeline) startBackground(ctx context.Context, c *Counters) (*background, error) {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{cancel: cancel}
	fail := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			b.mu.Lock()
			b.err = errors.Join(b.err, err)
			b.mu.Unlock()
		}
	}
	if p.needs.Ingest {
		b.wg.Go(func() { fail(p.Relay(ctx)) })
	}
	if p.needs.Consume {
		cons, err := p.Consumers(max(p.cfg.Consumers, 1), c)
		if err != nil {
			cancel()
			b.wg.Wait()
			return nil, err
		}
		for _, k := range cons {
			b.wg.Go(func() { fail(k.Run(ctx)) })
		}
	}
	return b, nil
}

// Stop ends the background work gracefully (the relay commits its batch,
// consumers finish and commit theirs) and returns its errors.
func (b *background) Stop() error {
	b.cancel()
	b.wg.Wait()
	return b.err
}

// drain waits until everything staged is published and the consumer group
// has committed everything in the topic.
func (p *Pipeline) drain(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		pending, err := p.outbox.Pending(ctx)
		if err == nil && pending == 0 && p.needs.Consume {
			var lag map[int32]int64
			if lag, err = p.Lag(ctx); err == nil {
				if p.m.SetLag(lag) == 0 {
					return nil
				}
			}
		} else if err == nil && pending == 0 {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("waiting for the pipeline to drain", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// schedule calls run now and then every cfg.Every, cfg.Runs times (0: until
// ctx ends); with Every 0, once.
func schedule(ctx context.Context, cfg Config, log *slog.Logger, run func(n int) error) error {
	for n := 1; ; n++ {
		start := time.Now()
		if err := run(n); err != nil {
			return err
		}
		if cfg.Every <= 0 || (cfg.Runs > 0 && n >= cfg.Runs) {
			return nil
		}
		next := start.Add(cfg.Every)
		log.Info("next run scheduled", "at", next.Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
}

// RunFull runs the whole pipeline in one process: fetch, stage, relay,
// consume, store; then verifies the result in Cassandra and prints a
// summary to out. It returns the report of each run.
func RunFull(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) ([]Report, error) {
	m := NewMetrics()
	if cfg.MetricsAddr != "" {
		if err := m.Serve(ctx, cfg.MetricsAddr, log); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	p, err := Open(ctx, cfg, Needs{Ingest: true, Consume: true}, log, m)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var c Counters
	bg, err := p.startBackground(ctx, &c)
	if err != nil {
		return nil, err
	}
	var reports []Report
	err = schedule(ctx, cfg, log, func(int) error {
		r, err := p.fullRun(ctx, &c, out)
		reports = append(reports, r)
		return err
	})
	return reports, errors.Join(err, bg.Stop())
}

func (p *Pipeline) fullRun(ctx context.Context, c *Counters, out io.Writer) (Report, error) {
	runID := NewRunID("full")
	base := p.snapshot(c)
	start := time.Now()
	rep := Report{TableRows: -1}
	if err := p.ledger.Start(ctx, runID, "full"); err != nil {
		return rep, err
	}
	p.latency.reset()
	prog := p.startProgress(ctx, runID, c, base, start)

	ids := NewIDSet()
	err := p.Ingest(ctx, runID, c, ids)
	if err == nil {
		err = p.drain(ctx)
	}
	prog.stop()

	rep.RunRecord = p.snapshot(c).since(base)
	rep.RunID, rep.Kind, rep.StartedAt = runID, "full", start
	rep.Duration = time.Since(start)
	rep.P50, rep.P99 = p.Latency(0.50), p.Latency(0.99)
	if err == nil {
		vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		v, rows, verr := p.Verify(vctx, ids)
		if verr == nil {
			rep.Verification, rep.TableRows = &v, rows
		}
		if verr == nil {
			rep.DeadLetters, verr = p.DeadLetters(vctx)
		}
		cancel()
		err = verr
		if err == nil && v.Found != v.Unique {
			err = fmt.Errorf("verification failed: %d of %d unique users are missing from %s.%s",
				v.Unique-v.Found, v.Unique, p.cfg.Keyspace, p.cfg.Table)
		}
	}
	rep.Status = StatusSucceeded
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		rep.Status = StatusInterrupted
		rep.Error = "interrupted"
	case err != nil:
		rep.Status = StatusFailed
		rep.Error = err.Error()
	}
	if uerr := p.ledger.Update(ctx, rep.RunRecord); uerr != nil {
		err = errors.Join(err, uerr)
	}
	writeSummary(out, p.cfg, rep)
	if rep.Status == StatusInterrupted {
		return rep, nil
	}
	return rep, err
}

// RunIngest is the producer process, the seed's DAG task: fetch and stage
// on a schedule, with the relay publishing to Kafka.
func RunIngest(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	m := NewMetrics()
	if cfg.MetricsAddr != "" {
		if err := m.Serve(ctx, cfg.MetricsAddr, log); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	p, err := Open(ctx, cfg, Needs{Ingest: true}, log, m)
	if err != nil {
		return err
	}
	defer p.Close()
	var c Counters
	bg, err := p.startBackground(ctx, &c)
	if err != nil {
		return err
	}
	err = schedule(ctx, cfg, log, func(int) error {
		runID := NewRunID("ingest")
		base, start := p.snapshot(&c), time.Now()
		if err := p.ledger.Start(ctx, runID, "ingest"); err != nil {
			return err
		}
		prog := p.startProgress(ctx, runID, &c, base, start)
		err := p.Ingest(ctx, runID, &c, nil)
		if err == nil {
			err = p.drain(ctx) // the run's rows are all published
		}
		prog.stop()
		rep := Report{RunRecord: p.snapshot(&c).since(base), Duration: time.Since(start), TableRows: -1}
		rep.RunID, rep.Kind, rep.StartedAt, rep.Status = runID, "ingest", start, StatusSucceeded
		if ctx.Err() != nil {
			rep.Status, rep.Error, err = StatusInterrupted, "interrupted", nil
		} else if err != nil {
			rep.Status, rep.Error = StatusFailed, err.Error()
		}
		err = errors.Join(err, p.ledger.Update(ctx, rep.RunRecord))
		writeSummary(out, cfg, rep)
		return err
	})
	return errors.Join(err, bg.Stop())
}

// RunConsume is the consumer process, the seed's Spark job: consume the
// topic and store the rows in Cassandra until ctx ends. Several such
// processes (or -consumers) share the partitions of one group.
func RunConsume(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	m := NewMetrics()
	if cfg.MetricsAddr != "" {
		if err := m.Serve(ctx, cfg.MetricsAddr, log); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	p, err := Open(ctx, cfg, Needs{Consume: true}, log, m)
	if err != nil {
		return err
	}
	defer p.Close()
	runID := NewRunID("consume")
	if err := p.ledger.Start(ctx, runID, "consume"); err != nil {
		return err
	}
	var c Counters
	start := time.Now()
	bg, err := p.startBackground(ctx, &c)
	if err != nil {
		return err
	}
	prog := p.startProgress(ctx, runID, &c, RunRecord{}, start)
	<-ctx.Done()
	err = bg.Stop()
	prog.stop()
	rep := Report{RunRecord: p.snapshot(&c), Duration: time.Since(start), TableRows: -1}
	rep.RunID, rep.Kind, rep.StartedAt, rep.Status = runID, "consume", start, StatusSucceeded
	if err != nil {
		rep.Status, rep.Error = StatusFailed, err.Error()
	}
	err = errors.Join(err, p.ledger.Update(ctx, rep.RunRecord))
	writeSummary(out, cfg, rep)
	return err
}
