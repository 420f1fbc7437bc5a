package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/secure"
)

// replay moves the stopped group's offsets back to -replay-from (or with
// -dry-run only says what that would do), prints the plan to out and
// returns: the consumers that run next read the records again. It needs
// Kafka only.
func replay(ctx context.Context, cfg config, log *slog.Logger, out io.Writer) error {
	sec, err := secure.FromEnv()
	if err != nil {
		return err
	}
	kafka, err := cfg.servers().OpenKafka(ctx, sec.Kafka)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	// The dry run only reads, so it answers while the group runs; the
	// replay refuses a group with members (kafkasink.ErrGroupActive).
	do := kafkasink.Replay
	if cfg.dryRun {
		do = kafkasink.PlanReplay
	}
	plan, err := do(ctx, cl, cfg.group, cfg.topic, cfg.replayFrom)
	if err != nil {
		return err
	}
	log.Info("replay", "group", plan.Group, "topic", plan.Topic, "from", plan.From, "applied", plan.Applied, "records", plan.Records())
	writePlan(out, plan)
	return nil
}

// writePlan prints a replay's plan, a line per partition.
func writePlan(w io.Writer, plan kafkasink.ReplayPlan) {
	what := "dry run, nothing moved"
	if plan.Applied {
		what = "applied"
	}
	fmt.Fprintf(w, "replay of group %s on %s from %s (%s)\n", plan.Group, plan.Topic, plan.From.Format(time.RFC3339Nano), what)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\tcommitted\ttarget\tread again\t")
	for _, p := range plan.Partitions {
		committed, note := thousands(p.Committed), "rewound"
		switch {
		case p.Committed < 0:
			committed, note = "-", "never committed: left as it is"
		case !p.Rewind:
			note = "not read past the time: left as it is"
		case !plan.Applied:
			note = "would be rewound"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t  %s\n", p.Partition, committed, thousands(p.Target), thousands(p.Records), note)
	}
	_ = tw.Flush()
	verb := "would be read again"
	if plan.Applied {
		verb = "will be read again by the group's next run"
	}
	fmt.Fprintf(w, "%s records %s\n", thousands(plan.Records()), verb)
}
