package randomusertest

import "math"

// Users change over days (WithChangeShare): every user has a revision, the
// number of days 1..day on which it changed, and revision r > 0 replaces
// the changeable fields of revision 0 with values drawn from a stream of
// (user, r). Everything is a pure function of the user's key a (seed, page,
// index), so any day can be served in any order and Handler.Revision can
// predict it without generating users.

// Salts of the streams derived from a user's key, so that they are
// independent of the stream of its revision-0 fields (0x5851f42d4c957f2d).
const (
	daySalt   = 0xd1b54a32d192ed03 // the per-day change decisions
	shiftSalt = 0x8cb92ba72f3d8dd7 // the per-user shifts, fixed across revisions
	revSalt   = 0xa0761d6478bd642f // the fields of one revision
)

// changeThreshold maps a share (0-1) to the bound a day's 53-bit hash must
// be under for the user to change: 0 never, 1<<53 always.
func changeThreshold(share float64) uint64 {
	return uint64(math.Round(share * (1 << 53)))
}

// queryUserKey is the key of user idx of an integer page of seed, as
// parse and generate derive it from a query.
func queryUserKey(seed string, page, idx int) uint64 {
	if len(seed) == 18 {
		seed = seed[:16] // the nat index is not hashed
	}
	if page < 1 || page > 10000 {
		page = 1
	}
	return userKey(fnv64(seed), page, idx)
}

// userKey is the key of user idx of a page: unique per (page, index) within
// a seed, since mix64 is a bijection.
func userKey(key uint64, page, idx int) uint64 {
	return mix64(uint64(page)<<13 | uint64(idx) ^ key)
}

// revision counts the days 1..day on which the user of key a changed. The
// decisions are consecutive outputs of a splitmix64 stream, one per day, so
// they are independent and the same on every day after.
func revision(a uint64, day int, t uint64) int {
	if t == 0 {
		return 0
	}
	r := rng{s: a ^ daySalt}
	rev := 0
	for range day {
		if r.next()>>11 < t {
			rev++
		}
	}
	return rev
}

// changedOn reports whether the user of key a changed on day (>= 1).
func changedOn(a uint64, day int, t uint64) bool {
	return t != 0 && mix64((a^daySalt)+uint64(day)*0x9e3779b97f4a7c15)>>11 < t // revision's day-th draw
}

// shift returns a value in [0, n) other than v0 for any revision rev >= 1,
// and, when n >= 3, other than the one for rev-1: v0 moved on by
// 1 + (j+rev-1) mod (n-1), with j drawn once per user.
func shift(v0, n int, j *rng, rev int) int {
	if n < 2 {
		return v0
	}
	return (v0 + 1 + (j.intn(n-1)+rev-1)%(n-1)) % n
}

// change turns the revision-0 user u into revision rev of the user of key
// a. Its identity (uuid, username, password, name, gender, dob, registered,
// nat, id) stays; email (through u.rev), location, phone, cell and picture
// change. The email differs from that of every other revision; the street
// number, the picture and the postcode (but CA's) from those of revision 0
// and rev-1; phone, cell and CA's postcode from those of revision 0 (and
// from rev-1's unless a random draw repeats it, which the formats make
// rare: about 1 in 10^6 at worst, for GB's shortest phone format).
func change(u *user, a uint64, rev int) {
	n := u.nat
	j := rng{s: a ^ shiftSalt}
	r := rng{s: mix64(a ^ revSalt ^ mix64(uint64(rev)))}
	u.rev = rev

	u.streetNo = 1 + shift(u.streetNo-1, 9999, &j, rev)
	u.street = n.streets[r.intn(len(n.streets))]
	u.city = n.cities[r.intn(len(n.cities))]
	u.state = n.states[r.intn(len(n.states))]
	if len(n.post) > 0 {
		old := u.post
		oldLen := u.postLen
		alt := shift(u.postAlt, len(n.post), &j, rev)
		for try := 0; ; try++ {
			u.postLen = len(appendTemplateOne(u.post[:0], n.post[alt], &r))
			if try == 8 || string(u.post[:u.postLen]) != string(old[:oldLen]) {
				break
			}
		}
		u.postAlt = alt
	} else {
		u.postNum = n.postMin + shift(u.postNum-n.postMin, n.postMax-n.postMin+1, &j, rev)
	}
	u.lat = r.intn(1800001) - 900000
	u.lng = r.intn(3600001) - 1800000
	u.tz = r.intn(len(timezones))

	portraits := 100
	switch {
	case n == lego:
		portraits = 10
	case u.female:
		portraits = 97
	}
	u.portrait = shift(u.portrait, portraits, &j, rev)

	u.phoneLen = redraw(u.phone[:], u.phoneLen, n.phone, &r)
	u.cellLen = redraw(u.cell[:], u.cellLen, n.cell, &r)
}

// redraw replaces the value in buf[:n] with a new draw from ts that
// differs from it (giving up after a few equal draws, which only a tiny
// format would produce), and returns the new length.
func redraw(buf []byte, n int, ts []template, r *rng) int {
	var old [24]byte
	copy(old[:], buf[:n])
	for try := 0; ; try++ {
		m := len(appendTemplate(buf[:0], ts, r))
		if try == 8 || string(buf[:m]) != string(old[:n]) {
			return m
		}
	}
}
