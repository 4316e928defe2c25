//go:build !linux

package main

import (
	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/pollset"
)

// pollers are the -poller values on this OS: kqueue is the only one.
var pollers = []string{"auto", "kqueue"}

// openPoller makes the OS's pollset (kqueue).
func openPoller(string) (ps pollset.Poller, files driver.Files, name, note string, err error) {
	if ps, err = pollset.New(); err != nil {
		return nil, nil, "", "", err
	}
	return ps, osFiles{}, "kqueue", "", nil
}
