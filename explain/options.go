package explain

import (
	"fmt"

	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/runledger"
)

// DefaultDeadLetterScan is the number of dead letters, the newest of the
// dead-letter topic, among which [Explainer.User] looks for the user's,
// unless [WithDeadLetterScan] says otherwise.
const DefaultDeadLetterScan = 10_000

// Opt is an option of [New]. Only this package makes options.
type Opt interface {
	apply(*config)
}

type config struct {
	runs    *runledger.Ledger
	letters *dlq.Queue
	scan    int
	group   string
}

func defaultConfig() config { return config{scan: DefaultDeadLetterScan} }

func (c config) validate() error {
	if c.scan < 1 {
		return fmt.Errorf("explain: WithDeadLetterScan(%d): want at least 1", c.scan)
	}
	return nil
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithRuns adds the run ledger, overriding the default of none: a
// [Report] then has each run that staged a version of the user as the
// ledger holds it (kind, status, start and end); without it, only the
// runs' ids, which the outbox keeps with each version.
func WithRuns(l *runledger.Ledger) Opt { return optFunc(func(c *config) { c.runs = l }) }

// WithDeadLetters adds the dead-letter queue of the pipeline's topic,
// overriding the default of none (the dead-letter hop is then not
// checked). Kafka has no index by key, so the user's letters are found by
// reading the newest [WithDeadLetterScan] letters of the dead-letter topic
// ([dlq.Queue.Latest]: at most that many of each partition, the newest of
// them kept) and keeping those keyed by the
// id: fine for a dead-letter topic, which is small; an older letter is
// not found, and the report says the scan was partial.
func WithDeadLetters(q *dlq.Queue) Opt { return optFunc(func(c *config) { c.letters = q }) }

// WithDeadLetterScan sets among how many of the newest dead letters the
// user's are looked for, overriding the default [DefaultDeadLetterScan].
func WithDeadLetterScan(n int) Opt { return optFunc(func(c *config) { c.scan = n }) }

// WithConsumerGroup names the consumer group that stores the topic's
// records in the table, overriding the default of none: the Kafka hop
// then also says whether the group's committed offset has passed the
// user's record (consumed) or not.
func WithConsumerGroup(group string) Opt { return optFunc(func(c *config) { c.group = group }) }
