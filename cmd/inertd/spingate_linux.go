//go:build linux

package main

import (
	"bytes"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// spinGate says whether the spin may run now: not while the CPUs are
// contended, when a spinning inertd would take CPU time from the VM's
// threads waiting for it. Contention is the kernel's CPU pressure
// (/proc/pressure/cpu, "some": the share of time at least one runnable
// task waited for a CPU), sampled at most every gateEvery. Where the file
// is absent (no PSI) the gate is always open.
type spinGate struct {
	fd       int
	buf      [256]byte
	at       time.Time
	total    uint64 // "some" stall, µs
	closedTo bool
}

const (
	gateEvery = 2 * time.Millisecond
	// gateStall is the share of the last interval with a task waiting
	// for a CPU above which the spin stops.
	gateStall = 0.10
)

func newSpinGate() *spinGate {
	fd, err := unix.Open("/proc/pressure/cpu", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &spinGate{fd: -1}
	}
	g := &spinGate{fd: fd, at: time.Now()}
	g.total, _ = g.read()
	return g
}

// open reports whether the spin may run, now being now.
func (g *spinGate) open(now time.Time) bool {
	if g.fd < 0 {
		return true
	}
	dt := now.Sub(g.at)
	if dt < gateEvery {
		return !g.closedTo
	}
	total, ok := g.read()
	if !ok {
		return true
	}
	stall := float64(total-g.total) / float64(dt.Microseconds()+1)
	g.at, g.total, g.closedTo = now, total, stall > gateStall
	return !g.closedTo
}

// read returns the "some" total of /proc/pressure/cpu.
func (g *spinGate) read() (uint64, bool) {
	n, err := unix.Pread(g.fd, g.buf[:], 0)
	if err != nil || n <= 0 {
		return 0, false
	}
	line := g.buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	i := bytes.Index(line, []byte("total="))
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(line[i+len("total="):]), 10, 64)
	return v, err == nil
}

func (g *spinGate) close() {
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
}
