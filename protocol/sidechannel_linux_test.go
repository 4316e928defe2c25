package protocol

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// TestSideRecvForeignControlClosesFDs: a message whose control data holds
// anything besides SCM_RIGHTS (here the SCM_CREDENTIALS that SO_PASSCRED
// adds to every message, ahead of the rights) is an error, and the fds
// after the foreign control message are closed too.
func TestSideRecvForeignControlClosesFDs(t *testing.T) {
	a, b := connPair(t)
	if err := unix.SetsockoptInt(b.FD(), unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	sent := tempFDs(t, 2)
	buf, fds := make([]byte, 64), make([]int, MaxFDsPerMessage)
	before := testfd.Open(t)
	if err := a.Send([]byte("fdset request"), sent); err != nil {
		t.Fatal(err)
	}
	n, nfds, err := b.Recv(buf, fds)
	if !errors.Is(err, ErrUnexpectedControl) || nfds != 0 || string(buf[:n]) != "fdset request" {
		t.Fatalf("Recv = %q, %d fds, %v; want the payload, 0 fds, ErrUnexpectedControl", buf[:n], nfds, err)
	}
	testfd.CheckNoNew(t, before)
}
