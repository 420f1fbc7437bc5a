package connect

import (
	"context"
	"fmt"

	"github.com/userstream/userstream/kafkasink"
)

// NewProducer returns a kafkasink producer of k's brokers with k's security
// options and, when k has a schema registry, in registry mode; opts come
// after those (a WithClientOpts of opts adds to k's). In registry mode it
// registers the value schema of the producer's topic before it returns
// (Producer.RegisterSchema), so that a registry that is down, or a subject
// whose compatibility rule refuses the schema, fails the caller at start,
// before anything is produced: an error starting with "schema registry: ".
// The caller closes the producer.
func (k Kafka) NewProducer(ctx context.Context, opts ...kafkasink.ProducerOpt) (*kafkasink.Producer, error) {
	all := []kafkasink.ProducerOpt{kafkasink.WithClientOpts(k.ClientOpts...)}
	if k.Registry != nil {
		all = append(all, kafkasink.WithSchemaRegistry(k.Registry))
	}
	p, err := kafkasink.NewProducer(k.Brokers, append(all, opts...)...)
	if err != nil || k.Registry == nil {
		return p, err
	}
	if _, err := p.RegisterSchema(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return p, nil
}

// NewConsumer returns a kafkasink consumer of k's brokers in group, handing
// rows to h, with k's security options and, when k has a schema registry,
// in registry mode (it then reads the Confluent wire format, and the plain
// records written before the topic switched); opts come after those. Its
// TLS, if any, is kafkasink.WithDialTLS(k.TLS). Like
// kafkasink.NewConsumer it does no I/O. The caller closes the consumer.
func (k Kafka) NewConsumer(group string, h kafkasink.Handler, opts ...kafkasink.ConsumerOpt) (*kafkasink.Consumer, error) {
	// TLS through kafkasink.WithDialTLS, which replaces the
	// kgo.DialTLSConfig of k.ClientOpts: the consumer's own dialer, which
	// retries a refused connection, then does the handshake.
	all := []kafkasink.ConsumerOpt{kafkasink.WithClientOpts(k.ClientOpts...), kafkasink.WithDialTLS(k.TLS)}
	if k.Registry != nil {
		all = append(all, kafkasink.WithSchemaRegistry(k.Registry))
	}
	return kafkasink.NewConsumer(k.Brokers, group, h, append(all, opts...)...)
}
