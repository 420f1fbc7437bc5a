// Package dlq lists the letters of a dead-letter topic written by a
// [kafkasink.Consumer], with why each record failed, and redrives a
// selection of them, once the cause is fixed, back to the topic they came
// from, to be consumed again.
//
//	q, err := dlq.New(brokers, dlq.WithDataTopic("orders")) // orders.dlq, as the consumer of orders writes
//	...
//	defer q.Close()
//	letters, err := q.List(ctx, dlq.Selection{Reason: kafkasink.ReasonValidate})
//	for _, l := range letters {
//		fmt.Println(l.Position, l.Reason, l.Error, l.Original, l.RedriveCount)
//	}
//	report, err := q.Redrive(ctx, dlq.Selection{Reason: kafkasink.ReasonValidate})
//
// # Topics
//
// A Queue holds the dead letters of one data topic, in the dead-letter
// topic a kafkasink.Consumer of it writes to: [kafkasink.DLQTopicFor] of
// the data topic ([WithDataTopic], default users_created, so
// users_created.dlq), or the topic given to [WithDLQTopic], which has the
// meaning of kafkasink.WithDLQTopic. Options are checked at compile time:
// each is an [Opt] of New, or a [RedriveOpt] of [Queue.Redrive].
//
// # Reading
//
// [Queue.List] and [Queue.Letters] read the dead-letter topic from its
// first record to its high watermark at the call's start, with a client of
// their own that joins no group and commits nothing: reading moves no
// consumer and changes nothing. A [Selection] narrows them by reason
// (the dlq-reason header) and by a range of offsets. [Queue.Latest]
// returns the n newest letters a Selection selects, newest first, reading
// at most n records of each partition when no reason is given: what a
// status page shows. Each [Letter] has its position
// in the dead-letter topic and its time, the reason and error, the original
// topic, partition and offset, its redrive count, the record's key, value
// and own headers, and, once redriven, its redrive log entry.
//
// # Redrive
//
// [Queue.Redrive] writes each selected letter's key, value and original
// headers to the letter's original topic (or [WithTargetTopic]'s), where
// the consumer reads it as any other record, with a dlq-redrive-count
// header one more than the letter's. The dead-letter topic is never
// changed: its history stays whole, and a letter redriven stays where it
// was, marked redriven.
//
// What was redriven is recorded in a redrive log, a compacted topic named
// after the dead-letter topic plus [RedriveLogSuffix]
// (users_created.dlq.redrive; [WithRedriveLog]), which Redrive creates
// with one partition. Each entry ([Redrive]) names the letter, where its
// record failed and where it was written again, its redrive count and
// when. A second Redrive of the same selection reads the log and skips
// the letters in it ([ErrAlreadyRedriven]): a letter is sent back once.
// The log is written after the records; should the process die in between,
// the next Redrive sends those records again, which the pipeline absorbs,
// since its store upserts rows by id: a record redriven twice stores one
// row. Two Redrives of one topic running at the same time may both send a
// letter, absorbed the same way; run one at a time all the same.
//
// A redriven record that fails again is dead-lettered again by the
// consumer as a new letter, which keeps the record's redrive count (the
// consumer carries the dlq-redrive-count header over). Redrive skips a
// letter whose count has reached [WithMaxRedrives] (default
// [DefaultMaxRedrives], 3) with [ErrRedriveLimit], so a record that can
// never be stored goes round at most that many times and then stays in the
// dead-letter topic for a person to look at. A letter whose value was
// dropped because the record was too large for the dead-letter topic is
// skipped with [ErrValueDropped]; its [Skip] names the original position,
// where the record is for as long as that topic retains it.
//
// A redriven record is a new record of its key, with its own headers: a
// versioned record keeps its row-version header
// ([kafkasink.HeaderRowVersion]), and a delete (a tombstone: that header
// and a null value) stays a delete. A store that writes at the version
// (kafkasink.ChangesHandler) therefore keeps a newer row of the same key
// stored since the letter failed, whatever the redriven version is. An
// unversioned record has no such order: if a newer record of the same key
// has been stored since the letter failed, the redriven one, being
// consumed later, overwrites it. Redrive what is still wanted.
//
// # Errors and concurrency
//
// A missing dead-letter topic is [kafkasink.ErrTopicNotFound]; an empty
// selection given to Redrive is [ErrNoSelection]. The reasons a letter is
// skipped are errors to test with errors.Is. A [Queue] is safe for
// concurrent use; Close releases it.
package dlq
