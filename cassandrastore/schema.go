package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gocql/gocql"
)

// Replication is a keyspace's replication strategy. Make one with
// [SimpleStrategy] or [NetworkTopologyStrategy].
type Replication struct {
	class   string
	factor  int
	factors map[string]int
	// local, when > 0, is the factor of the session's data center, whose
	// name Migrate reads from system.local ([LocalNetworkTopologyStrategy]).
	local int
}

// SimpleStrategy places factor replicas around the ring, ignoring data
// centers: fine for a development cluster, wrong for production.
func SimpleStrategy(factor int) Replication {
	return Replication{class: "SimpleStrategy", factor: factor}
}

// NetworkTopologyStrategy places the given number of replicas in each named
// data center, for example {"dc1": 3, "dc2": 3}. Use it in production.
func NetworkTopologyStrategy(factors map[string]int) Replication {
	return Replication{class: "NetworkTopologyStrategy", factors: maps.Clone(factors)}
}

// LocalNetworkTopologyStrategy is [NetworkTopologyStrategy] with factor
// replicas in one data center: the one of the node that answers
// [Store.Migrate], whose name Migrate reads from system.local
// (data_center), so the caller need not know it ("datacenter1" on a
// default single-DC cluster). It is the production strategy of a cluster
// with one data center, and on one node LocalNetworkTopologyStrategy(1)
// behaves as SimpleStrategy(1). In a multi-DC cluster name the data
// centers with NetworkTopologyStrategy instead, or give the session
// [WithLocalDC] so that the node answering is a local one.
func LocalNetworkTopologyStrategy(factor int) Replication {
	return Replication{class: "NetworkTopologyStrategy", local: factor}
}

// dcRE admits the data center names snitches produce ("datacenter1",
// "us-east-1", "eu_west"). They are written into CREATE KEYSPACE as quoted
// literals, because DDL takes no bind markers, so quotes are excluded.
var dcRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// cql renders the replication map of a CREATE KEYSPACE statement.
func (r Replication) cql() (string, error) {
	switch r.class {
	case "SimpleStrategy":
		if r.factor < 1 {
			return "", fmt.Errorf("replication factor %d < 1", r.factor)
		}
		return "{'class': 'SimpleStrategy', 'replication_factor': " + strconv.Itoa(r.factor) + "}", nil
	case "NetworkTopologyStrategy":
		if r.local != 0 && r.factors == nil {
			return "", errors.New("the local data center's name is read by Migrate")
		}
		if len(r.factors) == 0 {
			return "", errors.New("NetworkTopologyStrategy without data centers")
		}
		var b strings.Builder
		b.WriteString("{'class': 'NetworkTopologyStrategy'")
		for _, dc := range slices.Sorted(maps.Keys(r.factors)) {
			f := r.factors[dc]
			if !dcRE.MatchString(dc) {
				return "", fmt.Errorf("data center name %q is not allowed", dc)
			}
			if f < 1 {
				return "", fmt.Errorf("replication factor %d < 1 in %q", f, dc)
			}
			fmt.Fprintf(&b, ", '%s': %d", dc, f)
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return "", errors.New("no replication strategy")
}

// validate checks r before Migrate resolves the local data center.
func (r Replication) validate() error {
	if r.local != 0 && r.factors == nil {
		if r.local < 1 {
			return fmt.Errorf("replication factor %d < 1 in the local data center", r.local)
		}
		return nil
	}
	_, err := r.cql()
	return err
}

// resolve returns r with the local data center named, read from
// system.local of the node that answers.
func (s *Store) resolve(ctx context.Context, r Replication) (Replication, error) {
	if r.local == 0 || r.factors != nil {
		return r, nil
	}
	var dc string
	if err := s.sysQuery(ctx, `SELECT data_center FROM system.local`).Scan(&dc); err != nil {
		return r, fmt.Errorf("read the local data center: %w", err)
	}
	return NetworkTopologyStrategy(map[string]int{dc: r.local}), nil
}

// replicas returns the replicas r places in data center dc; all of them
// for SimpleStrategy, which ignores data centers.
func (r Replication) replicas(dc string) int {
	if r.class == "SimpleStrategy" {
		return r.factor
	}
	return r.factors[dc]
}

// existingReplication parses a keyspace's replication as system_schema
// holds it ({"class": "org.apache.cassandra.locator.SimpleStrategy",
// "replication_factor": "1"}); ok is false for any other strategy.
func existingReplication(m map[string]string) (r Replication, ok bool) {
	switch class := m["class"]; {
	case strings.HasSuffix(class, ".SimpleStrategy") || class == "SimpleStrategy":
		f, err := strconv.Atoi(m["replication_factor"])
		return SimpleStrategy(f), err == nil
	case strings.HasSuffix(class, ".NetworkTopologyStrategy") || class == "NetworkTopologyStrategy":
		factors := map[string]int{}
		for k, v := range m {
			if k == "class" {
				continue
			}
			f, err := strconv.Atoi(v)
			if err != nil {
				return r, false
			}
			factors[k] = f
		}
		return NetworkTopologyStrategy(factors), true
	}
	return r, false
}

// sameReplicas reports whether have places as many replicas as want in
// each data center want names (in all, when want is SimpleStrategy). The
// strategy's class alone may differ: SimpleStrategy(1) and
// NetworkTopologyStrategy {dc1: 1} on a single-DC cluster hold the same.
func sameReplicas(have, want Replication) bool {
	if want.class == "SimpleStrategy" {
		n := have.factor
		if have.class != "SimpleStrategy" {
			n = 0
			for _, f := range have.factors {
				n += f
			}
		}
		return n == want.factor
	}
	for dc, f := range want.factors {
		if have.replicas(dc) != f {
			return false
		}
	}
	return true
}

// String returns the replication map as CQL, or a description of why it is
// invalid.
func (r Replication) String() string {
	if r.local != 0 && r.factors == nil {
		return fmt.Sprintf("{'class': 'NetworkTopologyStrategy', <local data center>: %d}", r.local)
	}
	s, err := r.cql()
	if err != nil {
		return "invalid replication: " + err.Error()
	}
	return s
}

// columnType is the CQL type of each column; every column but id is text.
func columnType(name string) string {
	if name == "id" {
		return "uuid"
	}
	return "text"
}

// Migrate creates the keyspace (with the store's [WithReplication]) and the
// table if they do not exist, and adds any column the table lacks, so a table created by the seed pipeline (11
// columns, no dob) is upgraded in place with its rows kept. It reads the
// existing columns from system_schema.columns, changes only what is
// missing, and waits for the cluster to agree on the schema. Running it
// again, or from several processes at once, is harmless.
//
// An existing keyspace keeps its replication, whatever WithReplication
// asks: changing it is an operator's ALTER KEYSPACE followed by a repair.
// When the keyspace holds a different number of replicas than asked in a
// data center, Migrate logs a warning naming both, at Warn, and goes on.
//
// Migrate never drops or alters a column; it returns an error wrapping
// [ErrIncompatibleSchema] when an existing column has another type or id is
// not the partition key.
func (s *Store) Migrate(ctx context.Context) error {
	want, err := s.resolve(ctx, s.cfg.replication)
	if err != nil {
		return fmt.Errorf("cassandrastore: migrate: %w", err)
	}
	if _, err := want.cql(); err != nil {
		return fmt.Errorf("cassandrastore: migrate: %w", err)
	}
	if err := s.migrate(ctx, want); err != nil {
		return fmt.Errorf("cassandrastore: migrate %s.%s: %w", s.cfg.keyspace, s.cfg.table, err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context, want Replication) error {
	ks, tbl := s.cfg.keyspace, s.cfg.table
	repl, _ := want.cql() // validated by Migrate
	// Look before creating: a user without CREATE permission can still
	// migrate a keyspace an operator made, and an up-to-date schema costs
	// no DDL at all.
	var existing map[string]string
	err := s.sysQuery(ctx, `SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&existing)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		if err := s.ddl(ctx, "CREATE KEYSPACE IF NOT EXISTS "+ks+" WITH replication = "+repl); err != nil {
			return fmt.Errorf("create keyspace: %w", err)
		}
		s.cfg.logger.Info("cassandrastore: created keyspace", "keyspace", ks, "replication", repl)
	case err != nil:
		return fmt.Errorf("read keyspace: %w", err)
	default:
		// Not altered: a new replication factor only takes effect with a
		// repair, and a smaller one can lose the only copy of rows, so the
		// change is the operator's. Said loudly when replicas differ,
		// since writes at LOCAL_QUORUM then need another number of nodes.
		if cur, ok := existingReplication(existing); !ok || !sameReplicas(cur, want) {
			s.cfg.logger.Warn("cassandrastore: keyspace exists with another replication; left as it is (ALTER KEYSPACE, then repair, to change it)",
				"keyspace", ks, "replication", existing, "asked", repl)
		}
	}

	have, err := s.existingColumns(ctx)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		defs := make([]string, len(columns))
		for i, c := range columns {
			defs[i] = c + " " + columnType(c)
		}
		defs[0] += " PRIMARY KEY"
		if err := s.ddl(ctx, "CREATE TABLE IF NOT EXISTS "+ks+"."+tbl+" ("+strings.Join(defs, ", ")+")"); err != nil {
			return fmt.Errorf("create table: %w", err)
		}
		s.cfg.logger.Info("cassandrastore: created table", "keyspace", ks, "table", tbl)
		// Another process may have created the table first, with
		// whatever shape; check what is there now.
		if have, err = s.existingColumns(ctx); err != nil {
			return err
		}
	}

	if id, ok := have["id"]; !ok || id.kind != "partition_key" || id.typ != "uuid" {
		return fmt.Errorf("%w: id must be the uuid partition key, found %+v", ErrIncompatibleSchema, have["id"])
	}
	for name, c := range have {
		if (c.kind == "partition_key" && name != "id") || c.kind == "clustering" {
			return fmt.Errorf("%w: primary key includes %s", ErrIncompatibleSchema, name)
		}
	}
	for _, c := range columns {
		got, ok := have[c]
		if ok {
			if got.typ != columnType(c) {
				return fmt.Errorf("%w: column %s is %s, want %s", ErrIncompatibleSchema, c, got.typ, columnType(c))
			}
			continue
		}
		if err := s.ddl(ctx, "ALTER TABLE "+ks+"."+tbl+" ADD "+c+" "+columnType(c)); err != nil {
			// A concurrent Migrate may have added it between our read
			// and our ALTER; that is success.
			now, rerr := s.existingColumns(ctx)
			if rerr != nil || now[c].typ != columnType(c) {
				return fmt.Errorf("add column %s: %w", c, err)
			}
			continue
		}
		s.cfg.logger.Info("cassandrastore: added column", "keyspace", ks, "table", tbl, "column", c)
	}
	if err := s.session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("await schema agreement: %w", err)
	}
	return nil
}

type columnInfo struct{ typ, kind string }

// existingColumns reads the table's columns from system_schema; an empty
// map means the table does not exist.
func (s *Store) existingColumns(ctx context.Context) (map[string]columnInfo, error) {
	it := s.sysQuery(ctx, `SELECT column_name, type, kind FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`,
		s.cfg.keyspace, s.cfg.table).Iter()
	have := map[string]columnInfo{}
	var name, typ, kind string
	for it.Scan(&name, &typ, &kind) {
		have[name] = columnInfo{typ: typ, kind: kind}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	return have, nil
}

// sysQuery reads the node-local system_schema tables; consistency ONE is
// all they support meaningfully, and schema agreement is awaited after
// every change, so any node's copy is current.
func (s *Store) sysQuery(ctx context.Context, stmt string, values ...any) *gocql.Query {
	return s.session.Session.Query(stmt, values...).WithContext(ctx).Consistency(gocql.One).Idempotent(true)
}

// ddl runs a schema change. gocql waits for schema agreement after each
// one, so the next read of system_schema sees it on every node.
func (s *Store) ddl(ctx context.Context, stmt string) error {
	return s.session.Session.Query(stmt).WithContext(ctx).Exec()
}
