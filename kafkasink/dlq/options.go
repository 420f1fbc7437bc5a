package dlq

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// Opt configures a [Queue]. Only this package makes options.
type Opt interface{ apply(*config) }

type opt struct{ fn func(*config) }

func (o opt) apply(c *config) { o.fn(c) }

type config struct {
	dataTopic   string // the consumed topic; the default dead-letter topic derives from it
	topic       string // the dead-letter topic, when topicSet; else kafkasink.DLQTopicFor(dataTopic)
	topicSet    bool
	logTopic    string // empty: topic + RedriveLogSuffix
	maxRedrives int
	logger      *slog.Logger
	clientOpts  []kgo.Opt
}

var discard = slog.New(slog.DiscardHandler)

func defaultConfig() config {
	return config{dataTopic: kafkasink.DefaultTopic, maxRedrives: DefaultMaxRedrives, logger: discard}
}

// WithDataTopic names the data topic whose dead letters the queue holds
// (the topic the kafkasink.Consumer consumes), overriding the default
// users_created ([kafkasink.DefaultTopic]). The dead-letter topic is then
// the one the consumer writes to by default,
// [kafkasink.DLQTopicFor](topic): orders.dlq for orders. [WithDLQTopic]
// wins over it.
func WithDataTopic(topic string) Opt { return opt{func(c *config) { c.dataTopic = topic }} }

// WithDLQTopic sets the dead-letter topic itself, overriding the default
// derived from the data topic ([WithDataTopic]): the same option, with the
// same meaning, as kafkasink.WithDLQTopic, for a consumer given one. The
// redrive log follows it unless [WithRedriveLog] names another.
func WithDLQTopic(topic string) Opt {
	return opt{func(c *config) { c.topic, c.topicSet = topic, true }}
}

// WithRedriveLog sets the topic recording what was redriven, overriding
// the default: the dead-letter topic's name followed by
// [RedriveLogSuffix]. [Queue.Redrive] creates it when missing.
func WithRedriveLog(topic string) Opt { return opt{func(c *config) { c.logTopic = topic }} }

// WithMaxRedrives sets how many times a record may be redriven, overriding
// the default [DefaultMaxRedrives] (3): a letter whose record has been
// redriven that many times already is not sent again, and [Queue.Redrive]
// reports it with [ErrRedriveLimit]. A record that fails for good thus
// goes round at most that many times, never forever.
func WithMaxRedrives(n int) Opt { return opt{func(c *config) { c.maxRedrives = n }} }

// WithLogger sets the logger (nil discards), overriding the default, which
// discards. Each redrive is logged at info level, each letter redriven or
// skipped at debug, franz-go's own warnings at warning.
func WithLogger(l *slog.Logger) Opt { return opt{func(c *config) { c.logger = l }} }

// WithClientOpts appends options to every franz-go client the queue makes
// (TLS, SASL, timeouts), overriding the default of none: its producing
// client, and a short-lived reading client per read. They come after the
// package's own, so where both set the same thing these win. Do not pass
// hooks meant for one client (kprom's metrics): each read makes a client.
func WithClientOpts(opts ...kgo.Opt) Opt {
	return opt{func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }}
}

// RedriveOpt configures one [Queue.Redrive].
type RedriveOpt interface{ applyRedrive(*redriveConfig) }

type redriveOpt struct{ fn func(*redriveConfig) }

func (o redriveOpt) applyRedrive(c *redriveConfig) { o.fn(c) }

type redriveConfig struct {
	dryRun bool
	target string
}

// WithDryRun makes Redrive select and report without writing anything,
// overriding the default of redriving. Its [Report] lists what would be
// redriven (with no position written to) and what would be skipped.
func WithDryRun() RedriveOpt { return redriveOpt{func(c *redriveConfig) { c.dryRun = true }} }

// WithTargetTopic sends every selected letter to topic, overriding the
// default: each letter's original topic (its dlq-original-topic header).
// The dead-letter topic itself is refused.
func WithTargetTopic(topic string) RedriveOpt {
	return redriveOpt{func(c *redriveConfig) { c.target = topic }}
}
