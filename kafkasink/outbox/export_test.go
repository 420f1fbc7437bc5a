package outbox

import "context"

// Test hooks, for the black-box tests of package outbox_test.

// AfterProduce sets a function the relay calls after a batch's produce
// returned and before the position moves and the round commits: the window
// in which a crash duplicates a batch.
func AfterProduce(f func()) RelayOpt { return relayOpt{func(c *relayConfig) { c.afterProduce = f }} }

// OnListening sets a function the relay calls each time its LISTEN is in
// effect.
func OnListening(f func()) RelayOpt { return relayOpt{func(c *relayConfig) { c.onListening = f }} }

// MigrateTo brings the store's schema up to version v only: the starting
// point of upgrade tests.
func (s *Store) MigrateTo(ctx context.Context, v int) error {
	return s.wrap("migrate", s.migrateTo(ctx, v))
}
