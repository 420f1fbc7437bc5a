package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
)

// deadLetters makes a topic whose consumer has dead-lettered two records
// that do not decode and one without an id.
func deadLetters(t *testing.T) string {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name(t, "dlqcmd")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err == nil {
			_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), topic, topic+".dlq", topic+".dlq.redrive")
			cl.Close()
		}
	})
	for _, name := range []string{topic, topic + ".dlq"} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Topic: topic, Key: []byte("html-1"), Value: []byte("<html>502</html>")},
		&kgo.Record{Topic: topic, Key: []byte("html-2"), Value: []byte("<html>503</html>")},
		&kgo.Record{Topic: topic, Key: []byte("no-id"), Value: []byte(`{"first_name":"No","last_name":"Id"}`)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c, err := kafkasink.NewConsumer(brokers, topic, func(context.Context, []kafkasink.Message) error { return nil },
		kafkasink.WithTopic(topic), kafkasink.WithStopAtEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return topic
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

// What an operator types: list the letters, look at one reason, try a
// redrive dry, redrive, redrive again (nothing sent), and see the letters
// marked.
func TestListAndRedrive(t *testing.T) {
	t.Setenv(envKafkaBrokers, strings.Join(testenv.KafkaBrokers(t), ","))
	topic := deadLetters(t)
	dlqTopic := topic + ".dlq"

	out, err := runCmd(t, "list", "-topic", topic)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "LETTER") || !strings.Contains(lines[1], dlqTopic+"/0/0") ||
		!strings.Contains(lines[1], "decode") || !strings.Contains(lines[1], topic+"/0/0") || !strings.Contains(lines[3], "validate") ||
		lines[4] != "3 letters in "+dlqTopic {
		t.Fatalf("list printed:\n%s", out)
	}

	out, err = runCmd(t, "list", "-topic", topic, "-n", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 4 || !strings.Contains(lines[1], "html-2") ||
		!strings.Contains(lines[2], "no-id") || lines[3] != "3 letters in "+dlqTopic+", the last 2 shown" {
		t.Fatalf("list -n 2: %v\n%s", err, out)
	}

	out, err = runCmd(t, "list", "-topic", topic, "-reason", "decode", "-n", "1", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var j letterJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Key != "html-2" || j.Value != "<html>503</html>" || j.Status != "-" {
		t.Fatalf("list -reason decode -n 1 -json printed %s (%v)", out, err)
	}

	if _, err := runCmd(t, "redrive", "-topic", topic); err == nil || !strings.Contains(err.Error(), "redrive what?") {
		t.Errorf("redrive without a selection: %v", err)
	}
	out, err = runCmd(t, "redrive", "-topic", topic, "-reason", "decode", "-dry-run")
	if err != nil || strings.Count(out, "would redrive") != 2 || !strings.Contains(out, "2 selected, 2 would be redriven") {
		t.Fatalf("redrive -dry-run: %v\n%s", err, out)
	}
	out, err = runCmd(t, "redrive", "-topic", topic, "-from", "1", "-to", "1")
	if err != nil || !strings.Contains(out, "redriven "+dlqTopic+"/0/1 (decode) to "+topic+"/0/3 with redrive count 1") {
		t.Fatalf("redrive -from 1 -to 1: %v\n%s", err, out)
	}
	out, err = runCmd(t, "redrive", "-topic", topic, "-reason", "decode")
	if err != nil || !strings.Contains(out, "skipped "+dlqTopic+"/0/1 (decode, from "+topic+"/0/1): already redriven") ||
		!strings.Contains(out, "2 selected, 1 redriven, 1 skipped") {
		t.Fatalf("redrive -reason decode after -from 1 -to 1: %v\n%s", err, out)
	}
	out, err = runCmd(t, "list", "-topic", topic)
	if err != nil || strings.Count(out, "redriven to "+topic) != 2 {
		t.Fatalf("list after the redrives: %v\n%s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"purge"}, {"list", "extra"}, {"list", "-nope"}} {
		if _, err := runCmd(t, args...); err == nil {
			t.Errorf("dlq %q: no error", args)
		}
	}
}
