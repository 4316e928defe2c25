//go:build linux

package main

import (
	"fmt"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/pollset"
)

// pollers are the -poller values on this OS; the first is the default.
var pollers = []string{"auto", "io_uring", "epoll"}

// openPoller makes the pollset named by -poller, and the driver.Files
// that goes with it. auto is io_uring where the kernel allows it (5.17 or
// later, not disabled by sysctl or seccomp, ring memory within the user's
// RLIMIT_MEMLOCK), else epoll: any failure to set up the ring falls back;
// why io_uring was not used is returned as a note for the log.
func openPoller(kind string) (ps pollset.Poller, files driver.Files, name, note string, err error) {
	if kind == "auto" || kind == "io_uring" {
		u, err := pollset.NewUring()
		switch {
		case err == nil:
			return u, ringFiles{u}, "io_uring", "", nil
		case kind == "io_uring":
			return nil, nil, "", "", err
		}
		note = fmt.Sprintf("using epoll: %v", err)
	}
	e, err := pollset.New()
	if err != nil {
		return nil, nil, "", "", err
	}
	return e, osFiles{}, "epoll", note, nil
}
