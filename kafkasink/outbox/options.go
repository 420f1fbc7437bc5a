package outbox

import (
	"log/slog"
	"time"
)

// StoreOpt configures a [Store].
type StoreOpt interface{ applyStore(*storeConfig) }

// RelayOpt configures a [Relay].
type RelayOpt interface{ applyRelay(*relayConfig) }

// DefaultSchema is the schema a [Store] uses unless [Schema] says otherwise.
const DefaultSchema = "userstream"

type storeConfig struct {
	schema        string
	copyThreshold int
}

func defaultStoreConfig() storeConfig {
	return storeConfig{schema: DefaultSchema, copyThreshold: 256}
}

type relayConfig struct {
	batchSize       int
	pollInterval    time.Duration
	retention       time.Duration
	cleanupInterval time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
	commitTimeout   time.Duration
	logger          *slog.Logger

	// Test hooks, set through export_test.go only.
	afterProduce func()
	onListening  func()
}

func defaultRelayConfig() relayConfig {
	return relayConfig{
		batchSize:       500,
		pollInterval:    time.Second,
		retention:       24 * time.Hour,
		cleanupInterval: 5 * time.Minute,
		minBackoff:      100 * time.Millisecond,
		maxBackoff:      30 * time.Second,
		commitTimeout:   30 * time.Second,
		logger:          slog.New(slog.DiscardHandler),
	}
}

type storeOpt func(*storeConfig)

func (o storeOpt) applyStore(c *storeConfig) { o(c) }

type relayOpt func(*relayConfig)

func (o relayOpt) applyRelay(c *relayConfig) { o(c) }

// Schema sets the Postgres schema that holds the outbox tables, overriding
// the default "userstream". The name must be a lower-case identifier
// (letters, digits and underscores, not starting with a digit) of at most
// 56 bytes, because the notification channel "<schema>_outbox" must fit
// Postgres's 63-byte limit. Tests give each test its own schema.
func Schema(name string) StoreOpt { return storeOpt(func(c *storeConfig) { c.schema = name }) }

// CopyThreshold sets the page size from which [Store.Stage] loads rows with
// COPY, overriding the default 256. Below it a single INSERT is cheaper than
// creating the temporary table COPY loads into.
func CopyThreshold(n int) StoreOpt {
	return storeOpt(func(c *storeConfig) { c.copyThreshold = n })
}

// BatchSize sets how many rows a relay claims, produces and marks in one
// transaction, overriding the default 500. It also bounds the duplicates a
// crashed relay can cause. Larger batches relay faster but hold their row
// locks longer.
func BatchSize(n int) RelayOpt { return relayOpt(func(c *relayConfig) { c.batchSize = n }) }

// PollInterval sets how long an idle relay waits for a notification before
// it looks for rows anyway, overriding the default 1s. Notifications make
// relaying prompt; polling is the fallback for a lost one.
func PollInterval(d time.Duration) RelayOpt {
	return relayOpt(func(c *relayConfig) { c.pollInterval = d })
}

// Retention sets how long published rows are kept before the relay deletes
// them, overriding the default 24h. Zero keeps them forever. While a row is
// kept, fetching the same user again counts as a duplicate and is not
// published again.
func Retention(d time.Duration) RelayOpt { return relayOpt(func(c *relayConfig) { c.retention = d }) }

// CleanupInterval sets how often [Relay.Run] deletes published rows older
// than the retention, overriding the default 5 minutes.
func CleanupInterval(d time.Duration) RelayOpt {
	return relayOpt(func(c *relayConfig) { c.cleanupInterval = d })
}

// Backoff sets the first and the longest wait of [Relay.Run] between failed
// rounds (Postgres or Kafka unavailable), overriding the defaults 100ms and
// 30s. The wait doubles with each failure in a row, with jitter.
func Backoff(min, max time.Duration) RelayOpt {
	return relayOpt(func(c *relayConfig) { c.minBackoff, c.maxBackoff = min, max })
}

// CommitTimeout bounds how long a relay may take, once a batch is produced,
// to mark it and commit, overriding the default 30s. This step deliberately
// outlives the context of [Relay.RelayOnce] and [Relay.Run]: abandoning it
// would turn every acknowledged row of the batch into a duplicate.
func CommitTimeout(d time.Duration) RelayOpt {
	return relayOpt(func(c *relayConfig) { c.commitTimeout = d })
}

// Logger sets the relay's logger, overriding the default, which discards
// everything. Failed rounds are logged at Warn, batches at Debug.
func Logger(l *slog.Logger) RelayOpt { return relayOpt(func(c *relayConfig) { c.logger = l }) }
