package outbox

// Test hooks, for the black-box tests of package outbox_test.

// AfterProduce sets a function the relay calls after a batch's produce
// returned and before the batch is marked and committed: the window in
// which a crash duplicates a batch.
func AfterProduce(f func()) RelayOpt { return relayOpt(func(c *relayConfig) { c.afterProduce = f }) }

// OnListening sets a function the relay calls each time its LISTEN is in
// effect.
func OnListening(f func()) RelayOpt { return relayOpt(func(c *relayConfig) { c.onListening = f }) }
