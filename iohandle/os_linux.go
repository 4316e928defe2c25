package iohandle

import "golang.org/x/sys/unix"

// msgNoSignal: a send to a closed peer returns EPIPE without SIGPIPE.
const msgNoSignal = unix.MSG_NOSIGNAL
