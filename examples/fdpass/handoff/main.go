// Command handoff opens a listening TCP socket and hands it to another
// process over a unix socket: the Go half of examples/fdpass. It connects
// to the unix stream socket -sock (where an Erlang VM waits, see
// ../fdpass.erl), sends the listener's address as the payload and its fd
// as SCM_RIGHTS with protocol.SendFDs, closes its own copy and exits. The
// VM then polls the socket with inert and serves connections on it; this
// process never accepts one. It is an example: it uses only the
// protocol package's public API (SendFDs), never inertd's internals.
//
//	handoff -sock /tmp/dir/vm.sock [-addr 127.0.0.1:0]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/inert-go/inert/protocol"
)

func main() {
	sock := flag.String("sock", "", "unix stream socket to hand the listener to (required)")
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on")
	flag.Parse()
	log.SetPrefix("handoff: ")
	log.SetFlags(0)
	if *sock == "" || flag.NArg() != 0 {
		log.Print("usage: handoff -sock PATH [-addr HOST:PORT]")
		os.Exit(64)
	}
	got, err := handOff(*sock, *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("handoff: handed the listener on %s over %s\n", got, *sock)
}

// handOff listens on addr, sends the listener over the unix socket at
// path and closes it here. It returns the address the listener has.
func handOff(path, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer ln.Close() // the receiver has its own fd for the socket by then
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	local := ln.Addr().String()
	// The listener's own fd, without the dup (and the switch to blocking
	// mode) that (*net.TCPListener).File would make.
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return "", err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = protocol.SendFDs(conn, []byte(local), int(fd))
	}); err != nil {
		return "", err
	}
	return local, serr
}
