package kafkasink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
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

// freeAddr returns a local address that refuses connections: a port just
// freed.
func freeAddr(t *testing.T) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return l.Addr().String(), port
}

// groupRequest is a heartbeat of a member no broker knows: any answer from
// a broker is a response, and only a lookup or connection that fails is an
// error.
func groupRequest() *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = "g", "m", 1
	return req
}

// franz-go gives a group request up when two coordinator lookups in a row
// are refused (the reason for retryRefused): with its own dialer, a
// heartbeat whose only broker refuses fails with the dial error, without
// waiting for its retry time bound. If this test fails, franz-go retries
// refused lookups itself and retryRefused can go.
func TestRefusedLookupFranzGo(t *testing.T) {
	addr, _ := freeAddr(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = groupRequest().RequestWith(ctx, cl)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("heartbeat with franz-go's dialer: %v, want the refused dial", err)
	}
	if kgo.IsRetryableBrokerErr(err) {
		t.Errorf("franz-go counts %v as retryable", err)
	}
}

// A consumer's client retries the coordinator lookup that a refused
// connection failed, within the request's time bound: here the broker
// comes up only after the first refusal, as the group's new coordinator
// does after the fence, and the heartbeat reaches it.
func TestRefusedLookupRetried(t *testing.T) {
	addr, port := freeAddr(t)
	var refused atomic.Int32
	up := make(chan struct{})
	hook := connectHook(func(err error) {
		if errors.Is(err, syscall.ECONNREFUSED) && refused.Add(1) == 1 {
			close(up)
		}
	})
	nop := func(context.Context, []Message) error { return nil }
	c, err := NewConsumer([]string{addr}, "g", nop, WithClientOpts(kgo.WithHooks(hook)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cluster := make(chan *kfake.Cluster, 1)
	go func() {
		<-up
		fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
		if err != nil {
			t.Error(err)
		}
		cluster <- fc
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = groupRequest().RequestWith(ctx, c.Client())
	if fc := <-cluster; fc != nil {
		defer fc.Close()
	}
	if err != nil {
		t.Fatalf("heartbeat after %d refused connections: %v, want a response", refused.Load(), err)
	}
}

// The refused dial keeps its text and its cause, and franz-go counts it
// as retryable; other dial errors pass unchanged.
func TestRetryRefusedError(t *testing.T) {
	addr, _ := freeAddr(t)
	plain := (&net.Dialer{Timeout: dialTimeout}).DialContext
	_, want := plain(context.Background(), "tcp", addr)
	_, err := retryRefused(plain)(context.Background(), "tcp", addr)
	if err == nil || want == nil {
		t.Fatalf("dialing a freed port: %v, %v; want refused", err, want)
	}
	if err.Error() != want.Error() || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("wrapped dial error %q, want %q, refused", err, want)
	}
	if !kgo.IsRetryableBrokerErr(err) || kgo.IsRetryableBrokerErr(want) {
		t.Errorf("retryable: wrapped %v, plain %v; want true, false", kgo.IsRetryableBrokerErr(err), kgo.IsRetryableBrokerErr(want))
	}
	other := errors.New("no route")
	_, err = retryRefused(func(context.Context, string, string) (net.Conn, error) { return nil, other })(context.Background(), "tcp", addr)
	if err != other {
		t.Errorf("another dial error came back as %v", err)
	}
}

// kgo.DialTLSConfig, which franz-go takes only without a dialer, still
// builds a consumer: its client keeps franz-go's TLS dialer, and the try
// with the dialer, which franz-go refuses before running any hook, leaves
// no metrics registered twice.
func TestRetryRefusedTLS(t *testing.T) {
	nop := func(context.Context, []Message) error { return nil }
	c, err := NewConsumer([]string{"127.0.0.1:1"}, "g", nop, WithMetrics(prometheus.NewRegistry()),
		WithClientOpts(kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Client().OptValue(kgo.DialTLSConfig) == nil {
		t.Error("the TLS config was dropped")
	}
}

type connectHook func(error)

func (h connectHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h(err)
}

// With WithDialTLS the consumer's own dialer does the TLS handshake, so a
// refused coordinator lookup is retried over TLS too, and a
// kgo.DialTLSConfig of WithClientOpts gives way to it: the broker (kfake
// over TLS with a certificate made here) comes up only after the first
// refusal, and the heartbeat reaches it.
func TestRefusedLookupRetriedTLS(t *testing.T) {
	serverCfg, clientCfg := testTLS(t)
	addr, port := freeAddr(t)
	var refused atomic.Int32
	up := make(chan struct{})
	hook := connectHook(func(err error) {
		if errors.Is(err, syscall.ECONNREFUSED) && refused.Add(1) == 1 {
			close(up)
		}
	})
	nop := func(context.Context, []Message) error { return nil }
	c, err := NewConsumer([]string{addr}, "g", nop, WithDialTLS(clientCfg),
		WithClientOpts(kgo.WithHooks(hook), kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cfg, _ := c.Client().OptValue(kgo.DialTLSConfig).(*tls.Config); cfg != nil {
		t.Error("kgo.DialTLSConfig kept beside WithDialTLS: the client dials with franz-go's dialer")
	}

	cluster := make(chan *kfake.Cluster, 1)
	go func() {
		<-up
		fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.TLS(serverCfg))
		if err != nil {
			t.Error(err)
		}
		cluster <- fc
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = groupRequest().RequestWith(ctx, c.Client())
	if fc := <-cluster; fc != nil {
		defer fc.Close()
	}
	if err != nil {
		t.Fatalf("heartbeat over TLS after %d refused connections: %v, want a response", refused.Load(), err)
	}
}

// testTLS returns a server config with a certificate for 127.0.0.1 made
// here, and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return server, client
}
