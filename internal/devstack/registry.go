package devstack

import (
	"context"
	"fmt"
	"path/filepath"
)

func (s *Stack) startRegistry(ctx context.Context) error {
	r := s.reg
	if pidAlive(pidFile(r.Dir)) {
		return nil
	}
	addr := hp(r.Host, r.Port)
	if portBusy(addr) {
		if s.registryReady(ctx) == nil {
			s.logf("a schema registry already answers on %s (started from another stack folder); using it", r.URL())
			return nil
		}
		return fmt.Errorf("%s is in use by another process that is not a schema registry; stop it or point USERSTREAM_TEST_SCHEMA_REGISTRY_URL at it", addr)
	}
	if err := s.registryBuild(); err != nil {
		return err
	}
	opts, err := renderArgs("registry-jvm.options.tmpl", r)
	if err != nil {
		return err
	}
	if err := s.spawn(r.Dir, filepath.Join(r.Dir, "registry.log"), append([]string{s.cfg.Java}, opts...)); err != nil {
		return err
	}
	s.markStarted(Registry)
	return nil
}

func (s *Stack) registryReady(ctx context.Context) error {
	return probeRegistry(ctx, s.reg.URL())
}
