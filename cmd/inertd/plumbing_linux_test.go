//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// The VM's ends of inertd's stdin and stdout pipes and of its side
// channel are refused when armed (einval, closed at once): holding one
// would keep inertd's stdin or side channel from ever reaching EOF. With
// all three armed, closing stdin still ends inertd.
func TestOwnPipesAndSideChannelAreRefusedAndClosed(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	own := map[string]int{
		"stdin writer":  int(d.stdin.(*os.File).Fd()),
		"stdout reader": int(d.out.Fd()),
		"side channel":  d.side,
	}
	gen := uint32(1)
	for name, fd := range own {
		d.send(fdset(1, gen, fd, protocol.ModeRead), fd)
		if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{failed, 1, %d, %d, einval}", gen, fd) {
			t.Errorf("fdset of the %s (fd %d) answered %s, want {failed, 1, %d, %d, einval}", name, fd, show(e), gen, fd)
		}
		gen++
		d.send(poll(1, gen, fd, protocol.ModeRead), fd)
		if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{error, 1, ref %d, einval}", gen) {
			t.Errorf("poll of the %s (fd %d) answered %s, want {error, 1, ref %d, einval}", name, fd, show(e), gen)
		}
		gen++
	}
	// An ordinary unix socket of the VM is armed as ever.
	rx, _ := socketpair(t)
	d.send(fdset(1, gen, rx, protocol.ModeRead), rx)
	d.info()
	if got := d.openFDs(); got != base+1 {
		t.Fatalf("inertd holds %d fds, want %d: only the ordinary socket's copy", got, base+1)
	}
	d.stdin.Close()
	if code, err := d.exit(); err != nil || code != 0 {
		t.Fatalf("exit status %d (%v) after stdin EOF, want 0", code, err)
	}
}

// inertd exits when the VM does, even while its stdin stays open (a copy
// of the pipe's writer elsewhere, such as in a process the VM forked):
// it watches a pidfd of the VM. Here the VM is a sleep the test starts
// and kills by its pid; inertd waits for the side channel meanwhile.
func TestVMExitEndsInertdEvenWithStdinOpen(t *testing.T) {
	vm := exec.Command("sleep", "60")
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	vmDone := make(chan struct{})
	go func() { vm.Wait(); close(vmDone) }()
	t.Cleanup(func() { vm.Process.Kill(); <-vmDone })
	d := startDaemon(t, vm.Process.Pid, "-accept-timeout", "60s")
	time.Sleep(50 * time.Millisecond) // inertd is in its loop
	if err := unix.Kill(vm.Process.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-vmDone
	start := time.Now()
	code, err := d.exit()
	if err != nil || code != 0 {
		t.Fatalf("after the VM was killed: exit status %d (%v), want 0 within 10 s", code, err)
	}
	t.Logf("inertd exited %v after the VM was reaped, its stdin still open", time.Since(start))
	if s := d.stderr.String(); s != "" {
		t.Errorf("inertd wrote to stderr on an orderly exit:\n%s", s)
	}
}
