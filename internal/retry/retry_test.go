//go:build unix

package retry

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRetryIssuesTheCallAgainOnlyAfterEINTR(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		errs  []error
		want  error
		calls int
	}{
		{"success at once", []error{nil}, nil, 1},
		{"two interruptions then success", []error{unix.EINTR, unix.EINTR, nil}, nil, 3},
		{"EAGAIN is returned", []error{unix.EINTR, unix.EAGAIN}, unix.EAGAIN, 2},
		{"another errno is returned", []error{unix.EBADF}, unix.EBADF, 1},
	} {
		calls := 0
		err := Retry(func() error { calls++; return c.errs[calls-1] })
		if err != c.want || calls != c.calls {
			t.Errorf("%s: got %v after %d calls, want %v after %d", c.name, err, calls, c.want, c.calls)
		}
	}
}

func TestInterruptedIsEINTROnly(t *testing.T) {
	t.Parallel()
	if !Interrupted(unix.EINTR) || Interrupted(nil) || Interrupted(unix.EAGAIN) || Interrupted(unix.EBADF) {
		t.Fatal("Interrupted must be true for EINTR and false for nil, EAGAIN, EBADF")
	}
}

// BlockingFD waits for the fd between an EAGAIN and the next call: the
// pipe becomes readable only once the test writes to it.
func TestBlockingFDWaitsForReadinessAfterEAGAIN(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := unix.SetNonblock(p[0], true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	calls := 0
	err := BlockingFD(p[0], unix.POLLIN, func() error {
		calls++
		_, err := unix.Read(p[0], buf)
		if calls == 1 && errors.Is(err, unix.EAGAIN) {
			if _, werr := unix.Write(p[1], []byte{'x'}); werr != nil {
				t.Error(werr)
			}
		}
		return err
	})
	if err != nil || calls != 2 || buf[0] != 'x' {
		t.Fatalf("got %v after %d calls, byte %q; want nil after 2, 'x'", err, calls, buf[0])
	}
}
