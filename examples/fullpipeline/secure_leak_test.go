//go:build secure

package main

import (
	"bytes"
	"github.com/userstream/userstream/connect"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/secure"
)

// TestSecurePipelineLeaksNoSecret runs the full pipeline over the secured
// listeners (Kafka SASL/SCRAM over TLS, Cassandra PasswordAuthenticator over
// TLS, PostgreSQL password with verify-full), with passwords given both as
// variables and as files, at debug log level with the progress line and
// /metrics on, and searches everything it printed and served for them. Then
// a run with a wrong password must fail clearly, again without printing a
// password, right or wrong.
func TestSecurePipelineLeaksNoSecret(t *testing.T) {
	read := func(env string) string {
		b, err := os.ReadFile(testenv.Require(t, env))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	kafkaPass := read(testenv.KafkaPasswordFileEnv)
	cassPassFile := testenv.Require(t, testenv.CassandraPasswordFileEnv)
	cassPass := read(testenv.CassandraPasswordFileEnv)
	pgPass := read(testenv.PostgresPasswordFileEnv)
	ca := testenv.Require(t, testenv.TLSCAFileEnv)
	name := testenv.Name(t, "leak")

	bin := filepath.Join(t.TempDir(), "fullpipeline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := map[string]string{
		connect.EnvKafkaBrokers:         testenv.Require(t, testenv.KafkaSASLTLSBrokersEnv),
		secure.EnvKafkaUsername:         testenv.Require(t, testenv.KafkaUsernameEnv),
		secure.EnvKafkaPassword:         kafkaPass, // a variable: not in ps
		secure.EnvKafkaTLSCAFile:        ca,
		connect.EnvCassandraHosts:       testenv.Require(t, testenv.CassandraTLSHostsEnv),
		secure.EnvCassandraUsername:     testenv.Require(t, testenv.CassandraUsernameEnv),
		secure.EnvCassandraPasswordFile: cassPassFile, // a file
		secure.EnvCassandraTLSCAFile:    ca,
		connect.EnvPostgresDSN:          testenv.Require(t, testenv.PostgresTLSDSNEnv),
		secure.EnvPostgresPassword:      pgPass,
		secure.EnvPostgresTLSCAFile:     ca,
	}
	secrets := []string{kafkaPass, cassPass, pgPass}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("a generated password is only %d characters: the search would prove little", len(s))
		}
	}
	run := func(env map[string]string) (output string, scraped string, err error) {
		metrics := freeAddr(t)
		args := []string{"-offline", "-users", "2000", "-page-size", "500", "-log-level", "debug", "-progress",
			"-topic", name, "-dlq-topic", name + "_dlq", "-group", name, "-keyspace", name, "-pg-schema", name,
			"-seed", name, "-metrics-addr", metrics}
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		for _, a := range cmd.Args {
			for _, s := range secrets {
				if strings.Contains(a, s) {
					t.Fatal("a password is on the command line")
				}
			}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var pages strings.Builder
		for {
			select {
			case err := <-done:
				return out.String(), pages.String(), err
			case <-time.After(100 * time.Millisecond):
			}
			// /metrics, and the status page's data: runs, errors, dead letters.
			for _, path := range []string{"/metrics", "/status.json"} {
				if resp, err := http.Get("http://" + metrics + path); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					pages.Write(b)
				}
			}
		}
	}
	check := func(what, text string) {
		for i, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows password %d", what, i)
			}
		}
	}

	out, scraped, err := run(env)
	if err != nil {
		t.Fatalf("secured run failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "verified     2,000 of 2,000") {
		t.Fatalf("secured run did not verify its users:\n%s", out)
	}
	if !strings.Contains(scraped, "userstream_rows_stored_total") || !strings.Contains(scraped, `"runs":`) {
		t.Error("never scraped /metrics and the status page during the run")
	}
	check("the secured run's output", out)
	check("/metrics and /status.json", scraped)

	wrong := map[string]string{}
	for k, v := range env {
		wrong[k] = v
	}
	wrong[secure.EnvKafkaPassword] = "wrong-" + kafkaPass[:4] + "-password"
	secrets = append(secrets, wrong[secure.EnvKafkaPassword])
	out, _, err = run(wrong)
	if err == nil {
		t.Fatalf("a run with a wrong Kafka password succeeded:\n%s", out)
	}
	if !strings.Contains(out, "kafka") || !strings.Contains(strings.ToLower(out), "authentication") {
		t.Errorf("the wrong-password run does not say Kafka authentication failed:\n%s", out)
	}
	check("the wrong-password run's output", out)
}
