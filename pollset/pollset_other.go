//go:build !linux && !darwin && !freebsd && !openbsd && !dragonfly

package pollset

import (
	"errors"
	"runtime"
)

// New fails: this OS has neither epoll nor a kqueue that pollset supports
// (see pollset_kqueue.go for NetBSD). errors.Is(err, errors.ErrUnsupported)
// holds for the error.
func New() (Poller, error) {
	return nil, unsupportedError{}
}

type unsupportedError struct{}

func (unsupportedError) Error() string {
	return "pollset: not supported on " + runtime.GOOS
}

func (unsupportedError) Is(target error) bool {
	return target == errors.ErrUnsupported
}
