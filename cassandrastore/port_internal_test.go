package cassandrastore

import "testing"

// TestCommonPort: the port every contact point is given with becomes the
// port of the discovered nodes; hosts without one, or with different ones,
// keep the session's port.
func TestCommonPort(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		port  int
		ok    bool
	}{
		{[]string{"127.0.0.21:19042"}, 19042, true},
		{[]string{"10.0.0.1:9043", "10.0.0.2:9043"}, 9043, true},
		{[]string{"[::1]:9142"}, 9142, true},
		{[]string{"10.0.0.1"}, 0, false},
		{[]string{"10.0.0.1:9043", "10.0.0.2"}, 0, false},
		{[]string{"10.0.0.1:9043", "10.0.0.2:9044"}, 0, false},
		{nil, 0, false},
	} {
		if p, ok := commonPort(tc.hosts); p != tc.port || ok != tc.ok {
			t.Errorf("commonPort(%q) = %d, %v; want %d, %v", tc.hosts, p, ok, tc.port, tc.ok)
		}
	}
}
