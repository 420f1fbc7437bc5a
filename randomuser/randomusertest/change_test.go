package randomusertest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/transform"
)

// Day 0, and any day without a change share, is the output without the
// options, byte for byte, in every format.
func TestDayZeroIsUnchanged(t *testing.T) {
	plain := newHandler(t)
	changing := newHandler(t, randomusertest.WithChangeShare(0.5))
	backToZero := newHandler(t, randomusertest.WithChangeShare(1), randomusertest.WithDay(4))
	backToZero.SetDay(0)
	noShare := newHandler(t, randomusertest.WithDay(7))
	for _, q := range []string{
		"seed=zero&results=2000",
		"seed=zero&results=300&page=7&nat=gb,no,ca",
		"seed=zero&results=50&page=2.5",
		"seed=zero&results=50&format=csv",
		"seed=zero&results=5&format=pretty&password=upper,12",
		"seed=abcdefabcdefabcd03&results=40",
		"seed=zero&results=40&lego",
	} {
		want := get(t, plain, "/api/?"+q).Body.String()
		for name, h := range map[string]*randomusertest.Handler{"share 0.5 day 0": changing, "SetDay(0)": backToZero, "share 0 day 7": noShare} {
			if got := get(t, h, "/api/?"+q).Body.String(); got != want {
				t.Errorf("%s: %s: body differs from the one without options", name, q)
			}
		}
	}
}

// dayUsers fetches pages 1-3 of 1,000 users of seed on day, raw and
// decoded by the client's decoder.
func dayUsers(t *testing.T, h *randomusertest.Handler, seed string, day int) (raw [][]byte, us []randomuser.User) {
	t.Helper()
	h.SetDay(day)
	for pg := 1; pg <= 3; pg++ {
		q := fmt.Sprintf("seed=%s&results=1000&page=%d", seed, pg)
		body := get(t, h, "/api/1.4/?"+q).Body.Bytes()
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Results {
			raw = append(raw, r)
		}
		d := randomuser.NewDecoder(bytes.NewReader(body))
		for {
			var u randomuser.User
			if err := d.Decode(&u); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: decode: %v", q, err)
				}
				break
			}
			us = append(us, u)
		}
	}
	if len(raw) != 3000 || len(us) != 3000 {
		t.Fatalf("day %d: %d raw users, %d decoded, want 3000", day, len(raw), len(us))
	}
	return raw, us
}

// checkChange compares a user on two days: the identity must be the same;
// if the user changed, the row differs in every changeable column and
// still validates; if not, the JSON is byte-identical.
func checkChange(t *testing.T, who string, changed bool, rawA, rawB []byte, a, b randomuser.User) {
	t.Helper()
	ra, rb := transform.FromUser(a), transform.FromUser(b)
	if err := rb.Validate(); err != nil {
		t.Errorf("%s: row invalid: %v", who, err)
	}
	if ra.ID != rb.ID || ra.FirstName != rb.FirstName || ra.LastName != rb.LastName || ra.Gender != rb.Gender ||
		ra.Username != rb.Username || ra.DOB != rb.DOB || ra.RegisteredDate != rb.RegisteredDate ||
		a.Nat != b.Nat || a.Name != b.Name || idValue(a.ID) != idValue(b.ID) || a.ID.Name != b.ID.Name || a.Login.UUID != b.Login.UUID {
		t.Errorf("%s: identity changed:\n%+v\n%+v", who, ra, rb)
	}
	if !changed {
		if !bytes.Equal(rawA, rawB) {
			t.Errorf("%s: unchanged user's JSON differs:\n%s\n%s", who, rawA, rawB)
		}
		return
	}
	for _, f := range []struct{ name, a, b string }{
		{"email", ra.Email, rb.Email}, {"phone", ra.Phone, rb.Phone}, {"address", ra.Address, rb.Address},
		{"post_code", ra.PostCode, rb.PostCode}, {"picture", ra.Picture, rb.Picture}, {"cell", a.Cell, b.Cell},
	} {
		if f.a == f.b {
			t.Errorf("%s: changed user has the same %s %q", who, f.name, f.a)
		}
	}
	if a.Location.Country != b.Location.Country {
		t.Errorf("%s: country %q became %q", who, a.Location.Country, b.Location.Country)
	}
}

func TestChangeShareOverDays(t *testing.T) {
	const seed, share = "changes", 1.0 / 3
	h := newHandler(t, randomusertest.WithChangeShare(share))
	raw0, u0 := dayUsers(t, h, seed, 0)
	raw1, u1 := dayUsers(t, h, seed, 1)
	raw2, u2 := dayUsers(t, h, seed, 2)

	var n1, n2, both int
	for i := range raw0 {
		pg, idx := 1+i/1000, i%1000
		who := fmt.Sprintf("page %d user %d", pg, idx)
		c1, c2 := h.Changed(seed, pg, idx, 1), h.Changed(seed, pg, idx, 2)
		if h.Changed(seed, pg, idx, 0) {
			t.Fatalf("%s: Changed on day 0", who)
		}
		if r := h.Revision(seed, pg, idx, 1); r != b2i(c1) {
			t.Fatalf("%s: Revision day 1 = %d, Changed = %v", who, r, c1)
		}
		if r := h.Revision(seed, pg, idx, 2); r != b2i(c1)+b2i(c2) {
			t.Fatalf("%s: Revision day 2 = %d, Changed = %v, %v", who, r, c1, c2)
		}
		checkChange(t, who+" day 0->1", c1, raw0[i], raw1[i], u0[i], u1[i])
		// A user that did not change on day 2 keeps its day-1 revision.
		checkChange(t, who+" day 1->2", c2, raw1[i], raw2[i], u1[i], u2[i])
		if c1 && !strings.Contains(u1[i].Email, "1@") {
			t.Errorf("%s: day-1 email %q does not carry revision 1", who, u1[i].Email)
		}
		n1 += b2i(c1)
		n2 += b2i(c2)
		both += b2i(c1 && c2)
		if t.Failed() {
			t.FailNow()
		}
	}
	// A third changes each day, independently: about 1,000 of 3,000 each
	// day and 333 on both. The seed is fixed, so these bands cannot flake;
	// they only catch a wrong share or correlated days.
	t.Logf("changed: day 1 %d, day 2 %d, both %d of 3000", n1, n2, both)
	for _, c := range []struct {
		what     string
		n        int
		min, max int
	}{{"day 1", n1, 750, 1260}, {"day 2", n2, 750, 1260}, {"both days", both, 230, 450}} {
		if c.n < c.min || c.n > c.max {
			t.Errorf("%s: %d of 3000 users changed, want %d-%d", c.what, c.n, c.min, c.max)
		}
	}

	// Days can be served in any order.
	h.SetDay(1)
	if got := getPage(t, h, "seed=changes&results=1000&page=2").Results; !bytes.Equal(got[7], raw1[1007]) {
		t.Error("day 1 served after day 2 differs from day 1 served first")
	}
}

func idValue(id randomuser.ID) string {
	if id.Value == nil {
		return "null"
	}
	return *id.Value
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// With share 1 every user changes every day, and consecutive revisions
// differ in every changeable column, for all nationalities.
func TestEveryDayARevision(t *testing.T) {
	h := newHandler(t, randomusertest.WithChangeShare(1))
	var prevRaw []json.RawMessage
	var prev []randomuser.User
	for day := range 5 {
		h.SetDay(day)
		p := getPage(t, h, "seed=daily&results=2100")
		us := users(t, p)
		for i := range us {
			if r := h.Revision("daily", 1, i, day); r != day {
				t.Fatalf("user %d: Revision on day %d = %d", i, day, r)
			}
			if day > 0 {
				checkChange(t, fmt.Sprintf("user %d (%s) day %d", i, us[i].Nat, day), true, prevRaw[i], p.Results[i], prev[i], us[i])
				if want := fmt.Sprintf("%d@example.com", day); !strings.HasSuffix(us[i].Email, want) {
					t.Errorf("user %d: email %q on day %d", i, us[i].Email, day)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		prevRaw, prev = p.Results, us
	}
}

// SetDay may be called while requests are served: each request sees one
// day, whole.
func TestSetDayConcurrent(t *testing.T) {
	const q = "/api/?seed=race&results=1500"
	want := map[string]int{}
	for day := range 4 {
		want[get(t, newHandler(t, randomusertest.WithChangeShare(0.5), randomusertest.WithDay(day)), q).Body.String()] = day
	}
	if len(want) != 4 {
		t.Fatalf("the 4 days gave %d distinct bodies", len(want))
	}
	h := newHandler(t, randomusertest.WithChangeShare(0.5))
	// One goroutine turns the days over until the requests are done.
	done := make(chan struct{})
	var setter, clients sync.WaitGroup
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			h.SetDay(i % 4)
			_ = h.Day()
			runtime.Gosched()
		}
	})
	for range 2 {
		clients.Go(func() {
			for range 5 {
				if _, ok := want[get(t, h, q).Body.String()]; !ok {
					t.Error("a body matches none of the days")
				}
			}
		})
	}
	clients.Wait()
	close(done)
	setter.Wait()
	h.SetDay(3)
	if h.Day() != 3 || want[get(t, h, q).Body.String()] != 3 {
		t.Error("after SetDay(3), the handler does not serve day 3")
	}
}

func TestChangeOptionsValidate(t *testing.T) {
	for _, o := range []randomusertest.Opt{
		randomusertest.WithChangeShare(-0.1), randomusertest.WithChangeShare(1.01),
		randomusertest.WithChangeShare(math.NaN()), randomusertest.WithDay(-1),
	} {
		if _, err := randomusertest.NewHandler(o); err == nil {
			t.Errorf("NewHandler accepted an invalid change option")
		}
	}
	h := newHandler(t, randomusertest.WithDay(2))
	if h.Day() != 2 {
		t.Errorf("Day() = %d, want 2", h.Day())
	}
	if h.Changed("x", 1, 0, 2) || h.Revision("x", 1, 0, 2) != 0 {
		t.Error("a user changed without a change share")
	}
	defer func() {
		if recover() == nil {
			t.Error("SetDay(-1) did not panic")
		}
	}()
	h.SetDay(-1)
}
