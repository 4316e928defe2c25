package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/inert-go/inert/protocol"
)

// The receiving end, in Go: the fd that arrives is the listener, which
// still accepts after handOff has closed its own copy.
func TestHandOffSendsAListenerThatStillAccepts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() { _, err := handOff(path, "127.0.0.1:0"); done <- err }()
	l.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, fds, err := protocol.RecvFDs(c, buf, 1)
	if err != nil || len(fds) != 1 {
		t.Fatalf("RecvFDs = %q, %v, %v", buf[:n], fds, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("handOff: %v", err)
	}
	f := os.NewFile(uintptr(fds[0]), "listener")
	ln, err := net.FileListener(f) // a dup of it; f is closed below
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().String(); got != string(buf[:n]) {
		t.Fatalf("listener on %s, payload says %s", got, buf[:n])
	}
	go func() {
		if cc, err := net.Dial("tcp", string(buf[:n])); err == nil {
			cc.Close()
		}
	}()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	a, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on the handed listener: %v", err)
	}
	a.Close()
}
