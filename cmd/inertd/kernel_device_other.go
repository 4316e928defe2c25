//go:build !linux

package main

import (
	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/protocol"
)

// openDevice: the tun, tap and pty opens are Linux's (TUNSETIFF,
// TIOCGPTPEER); elsewhere they are enotsup.
func openDevice(*protocol.OpenSpec) (driver.Opened, error) {
	return driver.Opened{}, unix.ENOTSUP
}

// SetTermios: the termios request is Linux's too (TCSETS).
func (osSockets) SetTermios(int, *protocol.Termios) error { return unix.ENOTSUP }
