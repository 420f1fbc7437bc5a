package devstack

import (
	"strconv"
	"strings"
)

// Help is the command's usage text, with this stack's addresses.
func (s *Stack) Help() string {
	k, c := s.kafka[0], s.cassandra[0]
	names := make([]string, 0, len(AllServices))
	for _, svc := range []Service{Kafka, Cassandra, Postgres, CassandraSecure, Registry, Toxiproxy} {
		names = append(names, string(svc))
	}
	b, err := render("help.txt.tmpl", map[string]any{
		"Host":                s.cfg.Host,
		"KafkaVersion":        KafkaVersion,
		"CassandraVersion":    CassandraVersion,
		"KafkaAddr":           k.Addr(),
		"ControllerAddr":      k.ControllerAddr(),
		"KafkaSASLAddr":       k.SASLAddr(),
		"KafkaSASLTLSAddr":    k.SASLTLSAddr(),
		"CassandraAddr":       c.Addr(),
		"CassandraSecureAddr": s.secure.Addr(),
		"PostgresAddr":        hp(s.pg.Host, s.pg.Port),
		"PostgresPort":        strconv.Itoa(s.pg.Port),
		"RegistryURL":         s.reg.URL(),
		"ToxiproxyVersion":    ToxiproxyVersion,
		"ToxiproxyURL":        s.toxi.URL(),
		"Services":            strings.Join(names, "|"),
	})
	if err != nil {
		panic(err) // the template is embedded and covered by a test
	}
	return string(b)
}
