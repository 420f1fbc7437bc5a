package transform

// Change is one version of a user on its way from an outbox to a store: the
// user's row, or the user's deletion, with the version's order.
//
// Version orders the versions of one user: a larger Version is newer. It is
// a count of microseconds since the Unix epoch (an outbox assigns it, at
// least the staging time and strictly increasing in staging order), so a
// store can use it as the write time (Cassandra's USING TIMESTAMP): then the
// newest version wins whatever order, and however often, the versions
// arrive. 0 means unversioned: the store writes at its own clock, and the
// last write wins, as records without a version (the seed's) always did.
type Change struct {
	// Row is the user's row; for a delete only Row.ID is set.
	Row Row
	// Delete says the user was erased: the store deletes the row, at
	// Version, so that an older version arriving later cannot bring it
	// back.
	Delete bool
	// Version is the version's order in microseconds since the Unix
	// epoch; 0: unversioned.
	Version int64
}

// Upsert returns the unversioned Change that writes row.
func Upsert(row Row) Change { return Change{Row: row} }
