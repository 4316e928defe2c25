//go:build !linux

package iohandle

// msgNoSignal: the BSDs have SO_NOSIGPIPE instead; the Go runtime
// ignores SIGPIPE on fds other than stdout and stderr anyway.
const msgNoSignal = 0
