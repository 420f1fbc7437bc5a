package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/userstream/userstream/explain"
)

// printText writes the report as a few lines per hop.
func printText(w io.Writer, rep *explain.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", rep.Verdict, rep.Summary)
	fmt.Fprintf(&b, "user %s\n", rep.ID)

	fmt.Fprintln(&b, "runs:")
	if len(rep.Runs) == 0 {
		fmt.Fprintln(&b, "  none")
	}
	for _, r := range rep.Runs {
		fmt.Fprintf(&b, "  %s: %d version(s)", r.ID, r.Versions)
		if l := r.Ledger; l != nil {
			fmt.Fprintf(&b, "; %s, %s, started %s", l.Kind, l.Status, stamp(l.StartedAt))
			if l.EndedAt != nil {
				fmt.Fprintf(&b, ", ended %s", stamp(*l.EndedAt))
			}
		}
		if r.Note != "" {
			fmt.Fprintf(&b, "; %s", r.Note)
		}
		fmt.Fprintln(&b)
	}

	o := rep.Outbox
	topic := o.Topic
	if topic == "" {
		topic = "(none yet)"
	}
	fmt.Fprintf(&b, "outbox: schema %s, relay position %d, topic %s\n", o.Schema, o.Position, topic)
	if len(o.Versions) == 0 {
		fmt.Fprintln(&b, "  no version: not staged here")
	}
	for _, v := range o.Versions {
		kind := "upsert"
		if v.Deleted {
			kind = "delete"
		}
		state := "pending"
		if v.Published {
			state = "published"
			if v.Record != nil {
				state += fmt.Sprintf(" at %d/%d %s", v.Record.Partition, v.Record.Offset, stamp(v.Record.PublishedAt))
			} else {
				state += " (place no longer recorded)"
			}
		}
		fmt.Fprintf(&b, "  seq %d version %d %s, run %s, staged %s: %s\n", v.Seq, v.Version, kind, v.RunID, stamp(v.StagedAt), state)
	}

	k := rep.Kafka
	switch {
	case k.Found:
		fmt.Fprintf(&b, "kafka: %s partition %d offset %d, key matches, row-version %d, fetched-at %s, timestamp %s", k.Topic, k.Partition, k.Offset, k.RowVersion, stamp(k.FetchedAt), stamp(k.Timestamp))
		if k.Tombstone {
			b.WriteString(", tombstone")
		}
		if k.Consumed != nil {
			fmt.Fprintf(&b, ", consumed %v", *k.Consumed)
		}
		fmt.Fprintln(&b)
		if k.Note != "" {
			fmt.Fprintf(&b, "  %s\n", k.Note)
		}
	default:
		fmt.Fprintf(&b, "kafka: not found: %s\n", k.Note)
	}

	c := rep.Cassandra
	switch {
	case !c.Checked:
		fmt.Fprintf(&b, "cassandra: %s\n", c.Note)
	case c.Found:
		fmt.Fprintf(&b, "cassandra: %s has the row, write time %d (%s), at the latest version: %v\n", c.Table, c.WriteTime, stamp(time.UnixMicro(c.WriteTime)), c.AtLatest)
	default:
		fmt.Fprintf(&b, "cassandra: %s has no row\n", c.Table)
	}

	d := rep.DeadLetters
	switch {
	case !d.Checked:
		fmt.Fprintf(&b, "dead letters: %s\n", d.Note)
	case len(d.Letters) == 0:
		fmt.Fprintf(&b, "dead letters: none in %s", d.Topic)
		if d.Note != "" {
			fmt.Fprintf(&b, " (%s)", d.Note)
		}
		fmt.Fprintln(&b)
	default:
		fmt.Fprintf(&b, "dead letters in %s:\n", d.Topic)
		for _, l := range d.Letters {
			fmt.Fprintf(&b, "  %s at %s: %s: %s (from %s, row-version %d)", l.Position, stamp(l.Time), l.Reason, l.Error, l.Original, l.RowVersion)
			if l.Redriven {
				b.WriteString(", redriven")
			}
			fmt.Fprintln(&b)
		}
		if d.Note != "" {
			fmt.Fprintf(&b, "  %s\n", d.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// stamp formats a time in UTC to the microsecond, "-" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
