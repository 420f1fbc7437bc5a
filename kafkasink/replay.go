package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrGroupActive is what [Replay] returns, as a *[GroupActiveError], when
// the group has members: it moves the offsets of a stopped group only.
// Test for it with errors.Is.
var ErrGroupActive = errors.New("kafkasink: the consumer group has members")

// GroupActiveError reports a group [Replay] refused to move because it has
// members, or because the broker refused the commit as the group came
// alive meanwhile. errors.Is(err, [ErrGroupActive]) is true; Unwrap also
// gives the broker's error, when it refused the commit.
type GroupActiveError struct {
	Group string
	State string // the group's state, as the broker says: Stable, PreparingRebalance...
	// Members names each member: its client id and host, with its static
	// member id (WithInstanceID) when it has one.
	Members []string
	Err     error // the broker's refusal of the commit; nil when Replay refused
}

func (e *GroupActiveError) Error() string {
	msg := fmt.Sprintf("kafkasink: group %q is %s with %d member(s) [%s]: stop them before a replay (a static member stays in the group for its session timeout after it stops)",
		e.Group, e.State, len(e.Members), strings.Join(e.Members, ", "))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrGroupActive) true.
func (e *GroupActiveError) Is(target error) bool { return target == ErrGroupActive }

// Unwrap returns the broker's refusal of the commit, if any.
func (e *GroupActiveError) Unwrap() error { return e.Err }

// ReplayPlan is what a replay of a group from a time does, or did, to the
// group's offsets on a topic, by partition. [PlanReplay] returns it
// without moving anything (a dry run); [Replay] returns it once applied.
type ReplayPlan struct {
	Group, Topic string
	From         time.Time // the records from this time on are read again
	// Applied is true when Replay moved the group's offsets; false for
	// PlanReplay, and for a Replay that found nothing to rewind.
	Applied    bool
	Partitions []ReplayPartition // every partition of the topic, in order
}

// Records returns the records the group reads again, all partitions
// together.
func (p ReplayPlan) Records() int64 {
	var n int64
	for _, pp := range p.Partitions {
		n += pp.Records
	}
	return n
}

// ReplayPartition is a [ReplayPlan]'s line for one partition.
type ReplayPartition struct {
	Partition int32
	// Committed is the group's committed offset: the next record it reads.
	// -1: the group never committed this partition; a replay leaves it
	// alone, and the group reads it from its reset offset (by default the
	// start of the log, which covers the time anyway).
	Committed int64
	// Target is the offset of the partition's first record stamped at or
	// after the plan's From; the end offset when there is none (From is
	// past the partition's last record).
	Target int64
	// Rewind is true when the replay moves the committed offset back to
	// Target: Target is below Committed. A replay only rewinds: where
	// Target is at or past Committed (the group has not read that far
	// yet), or the group never committed, the offset is left as it is.
	Rewind bool
	// Records is the number of records the group reads again:
	// Committed - Target when Rewind, else 0. It counts offsets, which are
	// records on a topic without compaction or transactions (the
	// producer's).
	Records int64
}

// PlanReplay is the dry run of [Replay]: it says, by partition, where a
// replay of group from the time from would move the group's offsets on
// topic, and how many records the group would read again, without moving
// anything. It only reads, so it works while the group's members run (but
// the group's commits go on meanwhile: the plan is a snapshot).
//
// cl may be any client, such as [Consumer.Client] or [Producer.Client]. A
// topic that does not exist is [ErrTopicNotFound].
func PlanReplay(ctx context.Context, cl *kgo.Client, group, topic string, from time.Time) (ReplayPlan, error) {
	if group == "" || topic == "" {
		return ReplayPlan{}, errors.New("kafkasink: replay: group and topic must be set")
	}
	ms, err := replayMilli(from)
	if err != nil {
		return ReplayPlan{}, err
	}
	adm := kadm.NewClient(cl)
	plan := ReplayPlan{Group: group, Topic: topic, From: from}
	targets, err := adm.ListOffsetsAfterMilli(ctx, ms, topic)
	if err == nil {
		err = targets.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
	}
	if err != nil {
		return plan, fmt.Errorf("kafkasink: replay: offsets of %s at %s: %w", topic, from.Format(time.RFC3339Nano), topicErr(topic, err))
	}
	if _, ok := ends[topic]; !ok {
		return plan, fmt.Errorf("kafkasink: replay: topic %q: %w", topic, ErrTopicNotFound)
	}
	committed, err := committedOffsets(ctx, adm, group, topic)
	if err != nil {
		return plan, fmt.Errorf("kafkasink: replay: offsets of group %s: %w", group, err)
	}
	ends.Each(func(end kadm.ListedOffset) {
		line := ReplayPartition{Partition: end.Partition, Committed: -1, Target: end.Offset}
		// kadm gives the end offset for a partition with no record at
		// or after the time; the check is for a broker saying -1 all
		// the same.
		if t, ok := targets.Lookup(topic, end.Partition); ok && t.Offset >= 0 {
			line.Target = t.Offset
		}
		if c, ok := committed[end.Partition]; ok {
			line.Committed = c
			if line.Target < c {
				line.Rewind, line.Records = true, c-line.Target
			}
		}
		plan.Partitions = append(plan.Partitions, line)
	})
	slices.SortFunc(plan.Partitions, func(a, b ReplayPartition) int { return int(a.Partition - b.Partition) })
	return plan, nil
}

// Replay moves group's committed offsets on topic back to the first
// records stamped at or after from, so that the group reads them again
// when it next runs: to restore what its store lost or had overwritten
// since then. It returns the plan it applied ([PlanReplay] shows it
// without applying it). Only partitions the group has read past from
// move, and only back (ReplayPartition.Rewind); the others, and
// partitions the group never committed, are left as they are. The moves
// are committed in one request.
//
// The group must be stopped: Kafka lets only a group's members commit
// while it has any, and a member would commit its own position over the
// replay's. Replay refuses a group with members with a *[GroupActiveError]
// ([ErrGroupActive]) naming them, and so does the broker, in the same
// error, should a member join between that check and the commit. A
// dynamic member leaves when its [Consumer.Run] returns; a static one
// ([WithInstanceID]) stays in the group for its session timeout. Records
// are found by their timestamps (by default the producer's clock), to the
// millisecond.
//
// What a replay restores depends on how the records are written. With
// [ChangesHandler] and a store writing at the version (cassandrastore's
// ApplyMany: USING TIMESTAMP version), a versioned record never
// overwrites a newer write: a replay restores the rows that are gone (a
// truncated or re-created table, a lost replica) or were written at an
// older time, but not a row overwritten by hand since, whose write time
// (the wall clock) is newer than every version: repair such rows from the
// source of truth (package reconcile, Reconciler.Repair). Unversioned
// records (no row-version header, such as the seed's) and [RowsHandler]
// write at the time of the write, so the last write wins: a replay
// restores any row overwritten before it, to its last record's values.
func Replay(ctx context.Context, cl *kgo.Client, group, topic string, from time.Time) (ReplayPlan, error) {
	adm := kadm.NewClient(cl)
	if err := checkStopped(ctx, adm, group, nil); err != nil {
		return ReplayPlan{Group: group, Topic: topic, From: from}, err
	}
	plan, err := PlanReplay(ctx, cl, group, topic, from)
	if err != nil {
		return plan, err
	}
	moves := kadm.Offsets{}
	for _, p := range plan.Partitions {
		if p.Rewind {
			moves.Add(kadm.Offset{Topic: topic, Partition: p.Partition, At: p.Target, LeaderEpoch: -1})
		}
	}
	if len(moves) == 0 {
		return plan, nil // nothing read past from: nothing to move
	}
	resp, err := adm.CommitOffsets(ctx, group, moves)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		if refusedByMembers(err) {
			var active *GroupActiveError
			if errors.As(checkStopped(ctx, adm, group, err), &active) {
				return plan, active
			}
			return plan, &GroupActiveError{Group: group, State: "unknown", Err: err}
		}
		return plan, fmt.Errorf("kafkasink: replay: commit the offsets of group %s: %w", group, err)
	}
	plan.Applied = true
	return plan, nil
}

// replayMilli returns the millisecond Kafka is asked about: from rounded
// up, so that a record stamped before from, in its millisecond, is not
// read again. Kafka reads a negative time as "the end" or "the start".
func replayMilli(from time.Time) (int64, error) {
	if from.IsZero() || from.Before(time.UnixMilli(0)) {
		return 0, fmt.Errorf("kafkasink: replay: time %v is not after the Unix epoch", from)
	}
	ms := from.UnixMilli()
	if time.UnixMilli(ms).Before(from) {
		ms++
	}
	return ms, nil
}

// checkStopped describes the group and returns a *GroupActiveError
// carrying cause if it has members. A group that does not exist has none.
func checkStopped(ctx context.Context, adm *kadm.Client, group string, cause error) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("kafkasink: replay: describe group %s: %w", group, err)
	}
	d, ok := described[group]
	if !ok || errors.Is(d.Err, kerr.GroupIDNotFound) {
		return nil
	}
	if d.Err != nil {
		return fmt.Errorf("kafkasink: replay: describe group %s: %w", group, d.Err)
	}
	if len(d.Members) == 0 && (d.State == "Empty" || d.State == "Dead" || d.State == "") {
		return nil
	}
	e := &GroupActiveError{Group: group, State: d.State, Err: cause}
	for _, m := range d.Members {
		name := m.ClientID + "@" + strings.TrimPrefix(m.ClientHost, "/")
		if m.InstanceID != nil {
			name += " (instance " + *m.InstanceID + ")"
		}
		e.Members = append(e.Members, name)
	}
	return e
}

// refusedByMembers reports whether a commit failed because the group has
// members: Kafka takes a commit from outside the group only while it is
// empty.
func refusedByMembers(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.FencedInstanceID) ||
		errors.Is(err, kerr.StaleMemberEpoch) // a group of the next protocol (KIP-848), which DescribeGroups does not describe
}

// committedOffsets returns the group's committed offsets on topic by
// partition; a partition without a commit is absent.
func committedOffsets(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", topic, p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}
