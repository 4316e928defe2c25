//go:build linux

package main

import (
	"errors"
	"os"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/inert-go/inert/pollset"
)

// -poller picks the kernel interface and info names the one in use: auto
// is io_uring wherever this process can set one up, else epoll.
func TestPollerFlagPicksTheInterfaceAndInfoNamesIt(t *testing.T) {
	uring := "io_uring"
	if u, err := pollset.NewUring(); err == nil {
		u.Close()
	} else if errors.Is(err, errors.ErrUnsupported) {
		uring = "" // inertd cannot start with -poller io_uring here
	} else {
		t.Fatal(err)
	}
	auto := uring
	if auto == "" {
		auto = "epoll"
	}
	for _, tt := range []struct{ flag, want string }{
		{"epoll", "epoll"},
		{"io_uring", uring},
		{"auto", auto},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			if tt.want == "" {
				t.Skip("no io_uring in this kernel")
			}
			t.Setenv("INERTD_TEST_POLLER", "") // the flag below decides
			d := startDaemon(t, os.Getpid(), "-poller", tt.flag)
			d.connect()
			if got := d.info()[etf.Atom("poller")]; got != etf.Atom(tt.want) {
				t.Fatalf("-poller %s: info names %v, want %s", tt.flag, got, tt.want)
			}
		})
	}
}
