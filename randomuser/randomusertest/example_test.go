package randomusertest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/userstream/userstream/randomuser/randomusertest"
)

// The server answers like https://randomuser.me/api/ on a loopback port.
func ExampleNewServer() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	resp, err := http.Get(srv.BaseURL() + "1.4/?seed=doc&results=2&nat=gb&inc=name,location,nat")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var page struct {
		Results []struct {
			Name     struct{ First, Last string }
			Location struct{ Postcode any }
			Nat      string
		}
		Info struct {
			Seed    string
			Results int
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range page.Results {
		fmt.Println(u.Nat, u.Name.First, u.Name.Last, u.Location.Postcode)
	}
	fmt.Println(page.Info.Seed, page.Info.Results)
	// Output:
	// GB Grace Bailey KW68 8YT
	// GB Poppy O'Brien C51 8QS
	// doc 2
}

// Inject queues faults for the next requests, in order.
func ExampleHandler_Inject() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.Inject(
		randomusertest.Status(502),
		randomusertest.TooManyRequests(30*time.Second),
		randomusertest.EmptyResults(),
	)
	for range 4 {
		resp, err := http.Get(srv.BaseURL() + "?inc=nat&seed=x")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %q %.40q\n", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	fmt.Printf("%+v\n", srv.Stats())
	// Output:
	// 502 "" "<html>\r\n<head><title>502 Bad Gateway</ti"
	// 429 "30" "{\"error\":\"Whoa, ease up there cowboy. Yo"
	// 200 "" "{\"results\":[],\"info\":{\"seed\":\"d3adb33f\","
	// 200 "" "{\"results\":[{\"nat\":\"FR\"}],\"info\":{\"seed\""
	// {Requests:4 Users:1 Faults:3 RateLimited:0}
}

// With a change share, a later day serves some users changed: same
// login.uuid, new email, phone, location and picture.
func ExampleWithChangeShare() {
	h, err := randomusertest.NewHandler(randomusertest.WithChangeShare(0.5))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	email := func() string {
		resp, err := http.Get(srv.URL + "/api/?seed=days&results=1&inc=email")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var page struct{ Results []struct{ Email string } }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return err.Error()
		}
		return page.Results[0].Email
	}
	for day := range 4 {
		h.SetDay(day)
		fmt.Println(day, h.Changed("days", 1, 0, day), h.Revision("days", 1, 0, day), email())
	}
	// Output:
	// 0 false 0 celine.weber@example.com
	// 1 true 1 celine.weber1@example.com
	// 2 true 2 celine.weber2@example.com
	// 3 false 2 celine.weber2@example.com
}
