package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/userstream/userstream/kafkasink/dlq"
)

// list prints the selected letters, oldest first: all of them, or the last
// -n. Only -n letters are held at a time, however large the topic.
func list(ctx context.Context, q *dlq.Queue, sel dlq.Selection, c config, out io.Writer) error {
	var ring []dlq.Letter // with -n, the last n letters, the oldest at total % n once full
	total := 0
	for l, err := range q.Letters(ctx, sel) {
		if err != nil {
			return err
		}
		if c.n > 0 && len(ring) == c.n {
			ring[total%c.n] = l
		} else {
			ring = append(ring, l)
		}
		total++
	}
	if c.n > 0 && total > c.n {
		k := total % c.n
		ring = slices.Concat(ring[k:], ring[:k])
	}
	if c.asJSON {
		enc := json.NewEncoder(out)
		for _, l := range ring {
			if err := enc.Encode(jsonLetter(l, c.maxRedrives)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LETTER\tDEAD-LETTERED\tREASON\tREDRIVES\tORIGINAL\tKEY\tSTATUS\tERROR")
	for _, l := range ring {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.Position, l.Time.UTC().Format(time.RFC3339), l.Reason,
			l.RedriveCount, l.Original, clip(string(l.Key), 40), status(l, c.maxRedrives), l.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d letters in %s", total, q.Topic())
	if len(ring) < total {
		fmt.Fprintf(out, ", the last %d shown", len(ring))
	}
	fmt.Fprintln(out)
	return nil
}

// status says whether a letter can still be redriven, and if not why.
func status(l dlq.Letter, maxRedrives int) string {
	switch {
	case l.Redriven != nil:
		return "redriven to " + l.Redriven.To.String()
	case l.ValueDropped:
		return "value dropped"
	case l.RedriveCount >= maxRedrives:
		return "held: redrive limit"
	}
	return "-"
}

// letterJSON is a letter for -json: key and value as text when they are
// (this pipeline's keys are ids, its values JSON), headers as a map.
type letterJSON struct {
	Letter       dlq.Position      `json:"letter"`
	Time         time.Time         `json:"time"`
	Reason       string            `json:"reason"`
	Error        string            `json:"error"`
	Original     dlq.Position      `json:"original"`
	RedriveCount int               `json:"redrive_count"`
	Status       string            `json:"status"`
	Key          string            `json:"key"`
	Value        string            `json:"value"`
	Headers      map[string]string `json:"headers,omitempty"`
	Redriven     *dlq.Redrive      `json:"redriven,omitempty"`
}

func jsonLetter(l dlq.Letter, maxRedrives int) letterJSON {
	j := letterJSON{Letter: l.Position, Time: l.Time.UTC(), Reason: l.Reason, Error: l.Error, Original: l.Original,
		RedriveCount: l.RedriveCount, Status: status(l, maxRedrives), Key: text(l.Key), Value: text(l.Value), Redriven: l.Redriven}
	if len(l.Headers) > 0 {
		j.Headers = map[string]string{}
		for _, h := range l.Headers {
			j.Headers[h.Key] = text(h.Value)
		}
	}
	return j
}

// text returns b as a string, or %q-quoted when it is not UTF-8.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("%q", b)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// redrive redrives the selection and prints what was sent and skipped.
func redrive(ctx context.Context, q *dlq.Queue, sel dlq.Selection, c config, out io.Writer) error {
	var opts []dlq.RedriveOpt
	if c.dryRun {
		opts = append(opts, dlq.WithDryRun())
	}
	if c.target != "" {
		opts = append(opts, dlq.WithTargetTopic(c.target))
	}
	rep, err := q.Redrive(ctx, sel, opts...)
	for _, r := range rep.Redriven {
		if rep.DryRun {
			fmt.Fprintf(out, "would redrive %s (%s, from %s) with redrive count %d\n", r.Letter, r.Reason, r.Original, r.Count)
		} else {
			fmt.Fprintf(out, "redriven %s (%s) to %s with redrive count %d\n", r.Letter, r.Reason, r.To, r.Count)
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(out, "skipped %s (%s, from %s): %s\n", s.Letter, s.Reason, s.Original, skipText(s.Err))
	}
	verb := "redriven"
	if rep.DryRun {
		verb = "would be redriven (dry run: nothing sent)"
	}
	fmt.Fprintf(out, "%d selected, %d %s, %d skipped\n", rep.Selected, len(rep.Redriven), verb, len(rep.Skipped))
	return err
}

func skipText(err error) string {
	switch {
	case errors.Is(err, dlq.ErrAlreadyRedriven):
		return "already redriven"
	case errors.Is(err, dlq.ErrRedriveLimit):
		return "redrive limit reached: look at it by hand"
	case errors.Is(err, dlq.ErrValueDropped):
		return "its value was too large for the dead-letter topic; the original is at its original position"
	}
	return strings.TrimPrefix(err.Error(), "dlq: ")
}
