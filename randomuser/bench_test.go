package randomuser_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

// page5000 returns the body of a 5,000-user page from the offline server.
func page5000(b *testing.B) []byte {
	b.Helper()
	srv := startServer(b)
	c := newClient(b, srv)
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), randomuser.Query{Seed: "bench", Results: 5000}, &buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// reportPerUser adds users/s and allocs/user, the figures that matter for
// paging through many users.
func reportPerUser(b *testing.B, users int, mallocs uint64) {
	total := float64(b.N) * float64(users)
	b.ReportMetric(total/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(mallocs)/total, "allocs/user")
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

func benchmarkDecode(b *testing.B, creds bool) {
	body := page5000(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := mallocs()
	for b.Loop() {
		dec := randomuser.NewDecoder(bytes.NewReader(body))
		dec.SetCredentials(creds)
		var u randomuser.User
		n := 0
		for {
			err := dec.Decode(&u)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 5000 {
			b.Fatalf("decoded %d users", n)
		}
	}
	reportPerUser(b, 5000, mallocs()-start)
}

// BenchmarkDecodePage5000 decodes a 5,000-user page (about 5 MB) from
// memory, as the client does, skipping credentials.
func BenchmarkDecodePage5000(b *testing.B) { benchmarkDecode(b, false) }

// BenchmarkDecodePage5000Credentials also decodes the five credential
// fields.
func BenchmarkDecodePage5000Credentials(b *testing.B) { benchmarkDecode(b, true) }

// BenchmarkClientFetch5000 measures the whole path against the offline
// server on loopback: generating, sending and decoding 5,000-user pages.
func BenchmarkClientFetch5000(b *testing.B) {
	srv := startServer(b)
	c := newClient(b, srv)
	ctx := context.Background()
	b.ReportAllocs()
	start := mallocs()
	page := 0
	for b.Loop() {
		page++
		r, err := c.Fetch(ctx, randomuser.Query{Seed: "bench", Results: 5000, Page: page%randomuser.MaxPage + 1})
		if err != nil || len(r.Results) != 5000 {
			b.Fatal(err)
		}
	}
	reportPerUser(b, 5000, mallocs()-start)
}

// BenchmarkClientUsers100k pages through 100,000 users of one seed with
// Client.Users, as the demo does.
func BenchmarkClientUsers100k(b *testing.B) {
	srv := startServer(b)
	c := newClient(b, srv)
	ctx := context.Background()
	start := mallocs()
	for b.Loop() {
		n := 0
		for _, err := range c.Users(ctx, randomuser.Query{Seed: "demo"}, 100000) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100000 {
			b.Fatalf("%d users", n)
		}
	}
	reportPerUser(b, 100000, mallocs()-start)
}

// BenchmarkServerPage5000 measures the offline server alone: one
// 5,000-user page per request, read and discarded by a plain HTTP client.
func BenchmarkServerPage5000(b *testing.B) {
	srv, err := randomusertest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hc := srv.Client()
	for b.Loop() {
		resp, err := hc.Get(srv.BaseURL() + "1.4/?seed=bench&results=5000")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
	b.ReportMetric(float64(b.N)*5000/b.Elapsed().Seconds(), "users/s")
}
