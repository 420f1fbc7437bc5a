// Package promreg registers a package's Prometheus collectors so that
// several instances handed one Registerer share their series.
package promreg

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it. If reg already holds a
// collector with the same description (another instance of the same
// package registered it), Register returns that one instead, so the
// instances count into the same series. A collector of another type under
// the same description, and every other registration error, is returned.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var zero T
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		return zero, err
	}
	// A Gauge satisfies the Counter interface: the dynamic types must
	// match, not only the interface.
	existing, ok := are.ExistingCollector.(T)
	if !ok || reflect.TypeOf(existing) != reflect.TypeOf(c) {
		return zero, fmt.Errorf("a collector of type %T is already registered under the same name, want a %T", are.ExistingCollector, c)
	}
	return existing, nil
}

// DurationBuckets are the buckets of every duration histogram of the SDK,
// in seconds: 1 ms doubling to about 65 s.
func DurationBuckets() []float64 { return prometheus.ExponentialBuckets(0.001, 2, 17) }
