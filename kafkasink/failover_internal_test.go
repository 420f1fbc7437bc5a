package kafkasink

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The failover defaults reach both clients, and WithClientOpts overrides
// them. No broker is asked: clients connect lazily.
func TestFailoverDefaults(t *testing.T) {
	brokers := []string{"127.0.0.1:1"}
	nop := func(context.Context, []Message) error { return nil }
	p, err := NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := NewConsumer(brokers, "g", nop, WithSessionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, cl := range map[string]*kgo.Client{"producer": p.Client(), "consumer": c.Client()} {
		if got := cl.OptValue(kgo.MetadataMinAge); got != DefaultMetadataMinAge {
			t.Errorf("%s: MetadataMinAge %v, want %v", name, got, DefaultMetadataMinAge)
		}
		if got := cl.OptValue(kgo.RequestRetries); got != int64(DefaultRequestRetries) {
			t.Errorf("%s: RequestRetries %v, want %d", name, got, DefaultRequestRetries)
		}
		backoff := cl.OptValue(kgo.RetryBackoffFn).(func(int) time.Duration)
		for tries := 1; tries < 30; tries++ {
			if d := backoff(tries); d <= 0 || d > DefaultRetryBackoffMax {
				t.Errorf("%s: retry backoff after %d tries %v, want in (0, %v]", name, tries, d, DefaultRetryBackoffMax)
			}
		}
	}

	timeout := c.Client().OptValue(kgo.RetryTimeoutFn).(func(int16) time.Duration)
	for _, tc := range []struct {
		req  kmsg.Request
		want time.Duration
	}{
		{kmsg.NewPtrHeartbeatRequest(), DefaultHeartbeatRetry}, // above the 6s session
		{kmsg.NewPtrJoinGroupRequest(), 6 * time.Second},       // franz-go's: the session timeout
		{kmsg.NewPtrOffsetCommitRequest(), 30 * time.Second},   // franz-go's: 30s
	} {
		if got := timeout(tc.req.Key()); got != tc.want {
			t.Errorf("retry timeout of %s: %v, want %v", kmsg.NameForKey(tc.req.Key()), got, tc.want)
		}
	}
	if got := retryTimeout(0)((*kmsg.HeartbeatRequest)(nil).Key()); got != franzSessionTimeout {
		t.Errorf("heartbeat retry timeout with the default session: %v, want %v", got, franzSessionTimeout)
	}

	p2, err := NewProducer(brokers, WithClientOpts(kgo.MetadataMinAge(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if got := p2.Client().OptValue(kgo.MetadataMinAge); got != 5*time.Second {
		t.Errorf("WithClientOpts(kgo.MetadataMinAge(5s)): %v", got)
	}
}
