// Command dlq shows the records the consumer dead-lettered, with why, and
// sends a selection of them back to be consumed again once the cause is
// fixed (package kafkasink/dlq). The brokers come from
// USERSTREAM_KAFKA_BROKERS (or -brokers), credentials and TLS from the
// variables package secure reads.
//
//	dlq list                                 # every letter of users_created.dlq
//	dlq list -reason validate -n 20          # the last 20 that failed validation
//	dlq list -from 100 -to 200 -json         # one JSON object a line, key and value as text
//	dlq redrive -reason email-alias -dry-run # what would be sent, sending nothing
//	dlq redrive -reason email-alias          # after the fix is deployed
//	dlq redrive -all
//
// A redrive sends each letter's record back to its original topic with a
// dlq-redrive-count header and records it in users_created.dlq.redrive;
// running it again skips what was sent. The dead-letter topic is never
// changed. A record redriven -max-redrives times (default 3) is not sent
// again, nor one that went to the dead-letter topic without its value.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/secure"
)

const (
	envKafkaBrokers     = "USERSTREAM_KAFKA_BROKERS"
	defaultKafkaBrokers = "127.0.0.1:9092"
)

const usage = `usage:
  dlq list    [-reason R] [-partition P] [-from N] [-to M] [-n N] [-json]
  dlq redrive (-all | -reason R | -from N -to M) [-partition P] [-dry-run] [-target TOPIC]
Common flags: -brokers, -topic, -dlq-topic, -max-redrives, -log-level. dlq CMD -h lists them.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

// run runs the subcommand in args, writing its output to out and its logs
// and flag errors to errOut.
func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	var c config
	fs := c.flags(cmd, errOut)
	if fs == nil {
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h: the usage is printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usage)
	}
	sel, err := c.selection(cmd)
	if err != nil {
		return err
	}
	q, err := c.open(ctx, errOut)
	if err != nil {
		return err
	}
	defer q.Close()
	if cmd == "list" {
		return list(ctx, q, sel, c, out)
	}
	return redrive(ctx, q, sel, c, out)
}

// config is what the command is configured with.
type config struct {
	brokers, topic, dlqTopic string
	maxRedrives              int
	logLevel                 string

	reason              string
	partition           int
	from, to            int64
	all, dryRun, asJSON bool
	n                   int
	target              string
}

// flags returns the flag set of the subcommand cmd, nil for an unknown one.
func (c *config) flags(cmd string, errOut io.Writer) *flag.FlagSet {
	if cmd != "list" && cmd != "redrive" {
		return nil
	}
	fs := flag.NewFlagSet("dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.brokers, "brokers", envOr(envKafkaBrokers, defaultKafkaBrokers), "Kafka seed brokers, comma-separated (env "+envKafkaBrokers+")")
	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "the topic whose dead letters these are")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "the dead-letter topic (default: the topic followed by "+kafkasink.DLQSuffix+")")
	fs.IntVar(&c.maxRedrives, "max-redrives", dlq.DefaultMaxRedrives, "times a record may be redriven; a letter redriven that often is held")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fs.StringVar(&c.reason, "reason", "", "only letters with this dlq-reason (decode, validate, schema-version, rejected, or a handler's own)")
	fs.IntVar(&c.partition, "partition", 0, "the dead-letter topic's partition that -from and -to refer to")
	fs.Int64Var(&c.from, "from", -1, "only letters at this offset of the dead-letter topic or later")
	fs.Int64Var(&c.to, "to", -1, "only letters at this offset of the dead-letter topic or earlier")
	if cmd == "list" {
		fs.IntVar(&c.n, "n", 0, "show only the last n letters selected; 0: all")
		fs.BoolVar(&c.asJSON, "json", false, "print one JSON object a line instead of a table")
	} else {
		fs.BoolVar(&c.all, "all", false, "redrive every letter (a redrive needs -all, -reason or -from/-to)")
		fs.BoolVar(&c.dryRun, "dry-run", false, "show what would be redriven, and send nothing")
		fs.StringVar(&c.target, "target", "", "send the records to this topic (default: each letter's original topic)")
	}
	fs.Usage = func() {
		fmt.Fprintf(errOut, "%s\n\nFlags of dlq %s:\n", usage, cmd)
		fs.PrintDefaults()
	}
	return fs
}

// selection returns the letters the flags select.
func (c *config) selection(cmd string) (dlq.Selection, error) {
	sel := dlq.Selection{All: c.all, Reason: c.reason}
	if c.from >= 0 || c.to >= 0 {
		r := dlq.Range{Partition: int32(c.partition), From: max(c.from, 0), To: c.to}
		if c.to < 0 {
			r.To = math.MaxInt64
		}
		sel.Offsets = &r
	}
	if cmd == "redrive" && !sel.All && sel.Reason == "" && sel.Offsets == nil {
		return sel, fmt.Errorf("redrive what? give -all, -reason or -from/-to\n%s", usage)
	}
	return sel, nil
}

// open returns the queue of the dead-letter topic, with the credentials and
// TLS of the environment, once a broker has answered.
func (c *config) open(ctx context.Context, errOut io.Writer) (*dlq.Queue, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: lvl}))
	sec, err := secure.LoadKafka(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	opts, err := sec.Opts() // SASL and TLS; none when nothing is set
	if err != nil {
		return nil, err
	}
	brokers := splitList(c.brokers)
	// franz-go retries a broker it cannot reach until its request times
	// out; a ping first fails fast with the cause.
	if err := sec.Ping(ctx, brokers); err != nil {
		return nil, err
	}
	dlqTopic := c.dlqTopic
	if dlqTopic == "" {
		dlqTopic = c.topic + kafkasink.DLQSuffix
	}
	return dlq.New(brokers, dlq.WithDLQTopic(dlqTopic), dlq.WithMaxRedrives(c.maxRedrives),
		dlq.WithClientOpts(opts...), dlq.WithLogger(log))
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
