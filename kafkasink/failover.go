package kafkasink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/userstream/userstream/internal/backoff"
)

// How fast a producer's or consumer's client follows a partition to its new
// leader when the old one dies ("Broker failover" in the package doc).
//
// A broker that dies without a word (SIGKILL, a lost host, a partition)
// keeps leading its partitions until the controller fences it, one broker
// session timeout after its last heartbeat (broker.session.timeout.ms, 9 s
// by default). Until then every metadata response still names it, and no
// client setting shortens that part. What a client adds is the time it
// takes to ask again once the answer has changed: franz-go refreshes its
// metadata at most once per MetadataMinAge (5s by default), and backs off a
// failing connection, produce or fetch for up to 5s (RetryBackoffFn). On the
// local three-broker cluster, with franz-go's defaults, the producer learned
// the new leaders 3.9 s after the fence (its refreshes came 5 s apart), and
// the relay, whose rounds wait for every record of a round, held back every
// partition meanwhile.
const (
	// DefaultMetadataMinAge is the shortest time between two metadata
	// refreshes of a [Producer]'s or [Consumer]'s client, overriding
	// franz-go's 5s. A refresh is asked for when a request fails (a broker
	// gone, NOT_LEADER_OR_FOLLOWER), so the client learns a partition's new
	// leader at most this long after the controller names it. The cost is
	// at most two metadata requests a second from each client while
	// requests fail (a topic's metadata is a few hundred bytes), none when
	// nothing does: Kafka's Java client refreshes as often
	// (retry.backoff.ms, 100ms to 1s).
	DefaultMetadataMinAge = 500 * time.Millisecond

	// DefaultRetryBackoffMin and DefaultRetryBackoffMax bound the client's
	// wait before retrying a failed request, connection, produce or fetch:
	// it doubles from the minimum to the maximum, with jitter, overriding
	// franz-go's 250ms to 5s. They are the Java client's defaults
	// (retry.backoff.ms and retry.backoff.max.ms). A consumer's fetches
	// from a dead broker are retried at least once a second, and each
	// retry asks for the metadata refresh that moves the partition to its
	// new leader; the cost is a refused connection a second to a broker
	// that is down.
	DefaultRetryBackoffMin = 100 * time.Millisecond
	DefaultRetryBackoffMax = time.Second

	// DefaultHeartbeatRetry is the least time for which a [Consumer] retries
	// a heartbeat that fails to reach the group's coordinator, overriding
	// franz-go's, which gives up after the session timeout
	// ([WithSessionTimeout]) and with it the member's partitions. When the
	// coordinator's broker dies, its groups move to another broker only once
	// the controller fences it (broker.session.timeout.ms, 9 s by default),
	// and that broker then loads each group with its members and restarts
	// their session clocks: a member still heartbeating then keeps its
	// partitions, with no rebalance. A 6s session gave up first: on the
	// local cluster both consumers of a process lost their partitions and
	// rejoined, in several rebalances, and the longest stall was 16–17 s,
	// 5–8 s of it after the fence. With 30s a member rides the failover
	// out, as Kafka's Java consumer does (it only looks the coordinator up
	// again), and no member lost its partitions to the timeout; nor, since
	// a [Consumer]'s dialer has franz-go retry a refused connection, to two
	// coordinator lookups in a row refused by the dead broker ("Broker
	// failover" in the package doc). The cost: a member cut off from a live
	// coordinator keeps processing its partitions up to 30s after the
	// group gave them to others (where franz-go stops after the session
	// timeout); its commits fail, so those records are delivered again to
	// the new owner: duplicates, which the at-least-once contract allows,
	// never a loss.
	DefaultHeartbeatRetry = 30 * time.Second

	// DefaultRequestRetries bounds the tries of a request other than a
	// produce or a fetch (a heartbeat, an offset commit, a metadata or
	// coordinator lookup), overriding franz-go's 20. Each request is also
	// bounded in time (30s, a heartbeat [DefaultHeartbeatRetry]), and that
	// is the bound meant: with retries backing off to only
	// [DefaultRetryBackoffMax], 20 tries end about 13 s after the first,
	// before a coordinator that died with the active controller has moved
	// (the new controller fences it a full broker session timeout after it
	// takes over: 11 s after the kill here). A commit then failed after the
	// group had moved, and a heartbeat came within a second of failing.
	// 60 tries outlast the time bounds, as franz-go's 20 did with its
	// backoff of up to 5s.
	DefaultRequestRetries = 60
)

// franzSessionTimeout is franz-go's default session timeout, in effect
// when [WithSessionTimeout] is not given.
const franzSessionTimeout = 45 * time.Second

// retryTimeout is franz-go's default limit on a request's retries, with
// heartbeats retried for at least [DefaultHeartbeatRetry].
func retryTimeout(session time.Duration) func(int16) time.Duration {
	if session <= 0 {
		session = franzSessionTimeout
	}
	return func(key int16) time.Duration {
		switch key {
		case (*kmsg.HeartbeatRequest)(nil).Key():
			return max(session, DefaultHeartbeatRetry)
		case (*kmsg.JoinGroupRequest)(nil).Key(), (*kmsg.SyncGroupRequest)(nil).Key(),
			(*kmsg.ConsumerGroupHeartbeatRequest)(nil).Key():
			return session
		}
		return 30 * time.Second
	}
}

// failoverOpts are the franz-go options behind the defaults above. They
// come before [WithClientOpts]' options, so kgo.MetadataMinAge or
// kgo.RetryBackoffFn given there win.
func failoverOpts() []kgo.Opt {
	b := backoff.Backoff{Min: DefaultRetryBackoffMin, Max: DefaultRetryBackoffMax}
	return []kgo.Opt{
		kgo.MetadataMinAge(DefaultMetadataMinAge),
		kgo.RetryBackoffFn(b.Delay),
		kgo.RequestRetries(DefaultRequestRetries),
	}
}

// dialTimeout is franz-go's default dial timeout, kept by [retryRefused]'s
// dialer.
const dialTimeout = 10 * time.Second

// retryRefused returns a [Consumer]'s dialer: net.Dialer's, with franz-go's
// 10s timeout, whose refused connections franz-go retries as it does a dial
// that timed out (a host that does not answer), within the request's
// RetryTimeoutFn and RequestRetries.
//
// Why: franz-go gives a group request (a heartbeat, an offset commit) up
// when it cannot learn the group's coordinator twice in a row. It asks for
// the coordinator (FindCoordinator) of any broker, in turn, without retrying
// (client.go:2144 in v1.21.7), and does not count a refused dial as
// retryable (errors.go:79: it leaves that to each caller); a group request
// whose lookup fails so asks once more at once, of the next broker in turn,
// and returns the dial error when that one is refused too (client.go:1753,
// 1756). When the coordinator's broker dies, until the controller fences it
// (broker.session.timeout.ms, 9s by default) every failed heartbeat drops
// the cached coordinator and looks it up again, and the turn passes through
// the dead broker twice running wherever its seed address comes next
// (franz-go asks each known broker in turn, then one seed). A heartbeat
// that fails so ends the member's session (consumer_group.go:1365): it
// loses its partitions ("partitions lost"), rejoins after the fence and
// takes them again from the last commit before the kill. On the local
// cluster that happened in 5 of 8 runs where the dead broker coordinated
// the group ("heartbeat errored ... unable to dial" at franz-go's debug
// level, right after a refused lookup to the broker and one to its seed).
// With a refused dial classed as a timeout, the lookup is retried after
// the usual backoff ([DefaultRetryBackoffMin] to [DefaultRetryBackoffMax])
// and the heartbeat rides the failover out, as [DefaultHeartbeatRetry]
// means it to.
//
// What else changes, on the consumer's client only (the producer keeps
// franz-go's dialer, whose refused produce asks for a metadata refresh at
// once): a metadata request refused by a dead broker waits a backoff
// (100ms the first time) before asking the next broker instead of asking it
// at once; a dead-letter record produced to a dead leader waits for the
// metadata refresh that the failing fetches ask for (it did not wait for
// less before: both wait for the fence); and a request to a given broker
// that is down is retried until its time bound rather than failing at its
// first refusal. franz-go also dials again at once a connection that failed
// with a retryable error, so each refusal is two (a refused dial costs the
// broker's host nothing). A dialer given through [WithClientOpts] (kgo.Dialer)
// replaces this one, and so does kgo.DialTLSConfig, which franz-go takes
// only without a dialer (see [NewConsumer]).
func retryRefused(dial func(ctx context.Context, network, host string) (net.Conn, error)) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		conn, err := dial(ctx, network, host)
		var op *net.OpError
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &op) && op.Op == "dial" {
			return nil, &net.OpError{Op: op.Op, Net: op.Net, Source: op.Source, Addr: op.Addr, Err: refusedError{op.Err}}
		}
		return conn, err
	}
}

// refusedError is a refused connection that reports itself as a timeout,
// so that franz-go retries it (see [retryRefused]). It unwraps to the
// original error: errors.Is(err, syscall.ECONNREFUSED) still holds, and its
// text is unchanged.
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }
func (refusedError) Timeout() bool   { return true }
func (refusedError) Temporary() bool { return true }

// refusedDialOpts is the consumer's dialer option (see [retryRefused]),
// dialing over TLS configured by tlsCfg when it is not nil.
func refusedDialOpts(tlsCfg *tls.Config) []kgo.Opt {
	nd := &net.Dialer{Timeout: dialTimeout}
	if tlsCfg == nil {
		return []kgo.Opt{kgo.Dialer(retryRefused(nd.DialContext))}
	}
	return []kgo.Opt{kgo.Dialer(retryRefused(func(ctx context.Context, network, host string) (net.Conn, error) {
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			server, _, err := net.SplitHostPort(host)
			if err != nil {
				return nil, fmt.Errorf("kafkasink: dial %s: %w", host, err)
			}
			cfg.ServerName = server
		}
		return (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, network, host)
	}))}
}

// tlsOpts is franz-go's own TLS dialing with cfg; none for a nil cfg.
func tlsOpts(cfg *tls.Config) []kgo.Opt {
	if cfg == nil {
		return nil
	}
	return []kgo.Opt{kgo.DialTLSConfig(cfg)}
}
