// Command inertd is the fd readiness daemon behind the Erlang application
// inert. The VM spawns it as a port ({packet,4} on stdin/stdout) and hands
// it fds over a unix socket; inertd tells the VM when they are ready.
//
// It writes nothing but protocol frames to stdout (protocol/PROTOCOL.md);
// its log lines are entries of those frames, for the VM's logger, and go
// to stderr only before the protocol is up or once stdout is gone
// (log.go). It exits when stdin reaches EOF, that is when
// the VM closes the port or exits, closing every fd it holds.
//
// The command is wiring: the flags (main.go), the set-up and the event
// loop (loop.go), the hand-over queue (handover.go), the kernel adapters
// the driver is given (kernel*.go, peer_*.go, poller_*.go), the
// privileges it drops (caps_*.go), the VM watch (vmwatch_*.go), the fd
// table's size (fdtable_*.go) and the spin's CPU yield (yield_*.go). It
// owns the channels to the VM (stdin, stdout, the side channel) and the
// loop's flow control. It must not answer a request itself (every one goes
// to the driver, a refused plumbing fd through driver.Reject) nor build a
// term by hand (the protocol package does).
//
// Exit status: 0 stdin closed or the VM exited (or is exiting: its side
// channel or stdout closed with it); 1 fatal error; 2 the side channel was
// closed while the VM stays; 3 the VM did not connect in time; 4 the control
// stream on stdin is broken (a frame that is not a request); 64 bad usage.
package main

import (
	"flag"
	"os"
	"slices"
	"strings"
	"time"
)

// defaultSpin is how long the loop keeps polling after its last event
// before it blocks. Waking a sleeping thread costs 10-40 µs on a virtual
// machine without guest halt-polling; a loop still running when the next
// request or event comes answers it without that cost, and spares the
// sender the wake-up. 50 µs: +30 % echo throughput in BENCHMARKS.md; an
// idle daemon still sleeps (no wake-ups at all).
const defaultSpin = 50 * time.Microsecond

// defaultRecheck is the interval of the re-check of armed fds: an armed
// fd the VM closes without fdclr is released by inertd within about this
// long (PROTOCOL.md, "Fds the VM closes while armed"). One pass over
// 20,000 armed fds takes a few milliseconds (RELIABILITY.md).
const defaultRecheck = 500 * time.Millisecond

// maxSpin bounds -spin: a daemon must not burn a CPU for long.
const maxSpin = 10 * time.Millisecond

func main() {
	vmPID := flag.Int("vm-pid", 0, "OS pid of the Erlang VM: the only process allowed on the side channel (required)")
	acceptTimeout := flag.Duration("accept-timeout", 10*time.Second, "how long to wait for the VM to connect the side channel")
	verbose := flag.Bool("v", false, "log a debug line for every request")
	spin := flag.Duration("spin", defaultSpin, "after activity, poll without blocking this long before sleeping (0: never; at most 10ms)")
	recheck := flag.Duration("recheck", defaultRecheck, "while fds are armed, check this often that the VM still holds each one, and drop those it closed (0: never)")
	poller := flag.String("poller", pollers[0], "kernel readiness interface: "+strings.Join(pollers, ", ")+" (auto: io_uring where the kernel allows it, else epoll)")
	flag.Parse()

	logger := newLogger(os.Stderr, os.Getpid())
	if *vmPID <= 0 || flag.NArg() != 0 || *spin < 0 || *spin > maxSpin || !slices.Contains(pollers, *poller) || *recheck < 0 {
		logger.Errorf("usage: inertd -vm-pid PID [-accept-timeout D] [-spin D] [-poller %s] [-recheck D] [-v]", strings.Join(pollers, "|"))
		logger.down(false) // no protocol: stderr
		os.Exit(64)
	}
	os.Exit(run(config{vmPID: *vmPID, acceptTimeout: *acceptTimeout, verbose: *verbose, spin: *spin, poller: *poller, recheck: *recheck}, logger))
}
