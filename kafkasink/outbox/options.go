package outbox

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/backoff"
)

// Opt is an option of this package. Only the package makes options, and
// each is of one of two kinds, after what it configures: a [StoreOpt] for
// [NewStore] or a [RelayOpt] for [NewRelay] ([WithMetrics], a
// [StoreRelayOpt], is both). The constructors take only their own kind, so
// an option given to the wrong one does not compile.
type Opt interface {
	apply(*config)
}

// StoreOpt is an option of [NewStore]: an [Opt] that configures a [Store].
type StoreOpt interface {
	Opt
	storeOpt()
}

// RelayOpt is an option of [NewRelay]: an [Opt] that configures a [Relay].
type RelayOpt interface {
	Opt
	relayOpt()
}

// DefaultSchema is the schema a [Store] uses unless [WithSchema] says
// otherwise.
const DefaultSchema = "userstream"

// config holds the settings of both kinds; a constructor reads its half.
type config struct {
	store storeConfig
	relay relayConfig
}

type storeConfig struct {
	schema        string
	copyThreshold int
	metrics       prometheus.Registerer
}

func defaultStoreConfig() storeConfig {
	return storeConfig{schema: DefaultSchema, copyThreshold: 256}
}

type relayConfig struct {
	roundSize       int
	pollInterval    time.Duration
	retention       time.Duration
	cleanupInterval time.Duration
	backoff         backoff.Backoff
	commitTimeout   time.Duration
	logger          *slog.Logger
	metrics         prometheus.Registerer

	// Test hooks, set through export_test.go only.
	afterProduce func()
	onListening  func()
}

func defaultRelayConfig() relayConfig {
	return relayConfig{
		roundSize:       500,
		pollInterval:    time.Second,
		retention:       24 * time.Hour,
		cleanupInterval: 5 * time.Minute,
		backoff:         backoff.Backoff{Min: 100 * time.Millisecond, Max: 30 * time.Second},
		commitTimeout:   30 * time.Second,
		logger:          slog.New(slog.DiscardHandler),
	}
}

type storeOpt struct{ fn func(*storeConfig) }

func (o storeOpt) apply(c *config) { o.fn(&c.store) }
func (storeOpt) storeOpt()         {}

type relayOpt struct{ fn func(*relayConfig) }

func (o relayOpt) apply(c *config) { o.fn(&c.relay) }
func (relayOpt) relayOpt()         {}

// WithSchema sets the Postgres schema that holds the outbox tables,
// overriding the default "userstream" ([DefaultSchema]). The name must be a
// lower-case identifier (letters, digits and underscores, not starting with
// a digit or pg_) of at most 56 bytes, because the notification channel
// "<schema>_outbox" must fit Postgres's 63-byte limit. Tests give each test
// its own schema.
func WithSchema(name string) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.schema = name }}
}

// WithCopyThreshold sets the page size from which [Store.Stage] loads rows
// with COPY, overriding the default 256. Below it a single INSERT is cheaper
// than the temporary table COPY loads into.
func WithCopyThreshold(n int) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.copyThreshold = n }}
}

// WithRoundSize sets the most rows a relay reads, produces and moves its
// position over in one round (one transaction), overriding the default 500.
// It also bounds the duplicates a crashed relay or a failed delivery causes:
// at most one round's rows. Larger rounds relay faster, and hold the
// position's lock (and so keep the other relays standing by) for longer.
func WithRoundSize(n int) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.roundSize = n }}
}

// WithPollInterval sets how long an idle [Relay.Run] waits for a
// notification before it looks for rows anyway, overriding the default 1s.
// Notifications make relaying prompt; polling is the fallback for a lost
// one, and how a relay standing by notices that the publishing one stopped.
func WithPollInterval(d time.Duration) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.pollInterval = d }}
}

// WithRetention sets how long after staging a published version that a
// newer version of its user replaced is kept before [Relay.Run] deletes
// it, overriding the default 24h. Zero keeps every version forever.
// Pending versions are never deleted, nor is a user's latest version
// (staging the same user again compares with it, and counts a duplicate
// however old it is).
func WithRetention(d time.Duration) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.retention = d }}
}

// WithCleanupInterval sets how often [Relay.Run] deletes the replaced
// published versions older than the retention, overriding the default 5 minutes.
func WithCleanupInterval(d time.Duration) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.cleanupInterval = d }}
}

// WithBackoff sets the wait of [Relay.Run] after a failed round (Postgres or
// Kafka unavailable), and of its LISTEN connection after a failure: the
// wait doubles on each failure, with jitter, overriding the defaults 100ms
// and 30s. A round that succeeds resets it to min.
func WithBackoff(min, max time.Duration) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.backoff = backoff.Backoff{Min: min, Max: max} }}
}

// WithCommitTimeout bounds how long a relay may take, once a batch is
// produced, to move the position and commit, overriding the default 30s;
// the time starts when the produce has returned, however long it took.
// This step deliberately outlives the context of [Relay.RelayOnce] and
// [Relay.Run]: abandoning it would turn every acknowledged row of the batch
// into a duplicate.
func WithCommitTimeout(d time.Duration) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.commitTimeout = d }}
}

// WithLogger sets the relay's logger, overriding the default, which
// discards everything; a nil l keeps the default. Failed rounds are logged
// at Warn (at Error when they need a person: a missing privilege or
// migration), recoveries at Info, batches and cleanups at Debug.
func WithLogger(l *slog.Logger) RelayOpt {
	return relayOpt{func(c *relayConfig) { c.logger = l }}
}
