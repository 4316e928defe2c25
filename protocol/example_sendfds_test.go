//go:build linux

package protocol_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/inert-go/inert/protocol"
)

// Hand a TCP listener to another process over a unix socket: here both
// ends are in one program, the receiver being what an Erlang VM does with
// inert_fd:recv/3.
func ExampleSendFDs() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "vm.sock")
	vm, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer vm.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	conn, _ := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) {
		err = protocol.SendFDs(conn, []byte("a listener"), int(fd))
	})
	fmt.Println("sent:", err)
	ln.Close() // the receiver has its own fd for the socket
	conn.Close()

	peer, _ := vm.AcceptUnix()
	defer peer.Close()
	buf := make([]byte, 64)
	n, fds, err := protocol.RecvFDs(peer, buf, 1)
	fmt.Printf("received: %q with %d fd, %v\n", buf[:n], len(fds), err)
	f := os.NewFile(uintptr(fds[0]), "listener")
	l, _ := net.FileListener(f)
	f.Close()
	fmt.Println("listening:", l.Addr().(*net.TCPAddr).IP)
	l.Close()
	// Output:
	// sent: <nil>
	// received: "a listener" with 1 fd, <nil>
	// listening: 127.0.0.1
}
