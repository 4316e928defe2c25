package driver

import (
	"os"
	"runtime"
	"sort"

	"github.com/inert-go/inert/protocol"
)

// info answers {info, Pid, Ref} with the map described in PROTOCOL.md:
// the armed fds (sorted by fd), their modes, owners and kinds, and the
// counters. Delivered interests are reaped first, so that their
// duplicates count as closed: fds_received + fds_opened = fds_closed +
// fds_sent + armed holds in every answer.
func (d *Driver) info(req *protocol.Request) {
	d.Reap()
	if f, ok := d.files.(Flusher); ok {
		if err := f.Flush(); err != nil {
			d.log.Warningf("info: flush the queued closes: %v", err)
		}
	}
	vmfds := make([]int64, 0, len(d.byVM))
	for fd := range d.byVM {
		vmfds = append(vmfds, fd)
	}
	sort.Slice(vmfds, func(i, j int) bool { return vmfds[i] < vmfds[j] })

	b := protocol.AppendMapHeader(nil, 6)
	b = protocol.AppendAtom(b, "version")
	b = protocol.AppendInt(b, Version)
	b = protocol.AppendAtom(b, "poller")
	b = protocol.AppendAtom(b, d.poller)
	b = protocol.AppendAtom(b, "os_pid")
	b = protocol.AppendInt(b, int64(os.Getpid()))
	b = protocol.AppendAtom(b, "owner")
	if d.owner == nil {
		b = protocol.AppendAtom(b, "undefined")
	} else {
		b = protocol.AppendRaw(b, d.owner)
	}
	b = protocol.AppendAtom(b, "armed")
	if len(vmfds) > 0 {
		b = protocol.AppendListHeader(b, len(vmfds))
		for _, fd := range vmfds {
			it := d.byVM[fd]
			kind := "fdset"
			if it.poll {
				kind = "poll"
			}
			b = protocol.AppendTupleHeader(b, 4)
			b = protocol.AppendInt(b, it.vmfd)
			b = protocol.AppendAtom(b, it.mode.String())
			b = protocol.AppendRaw(b, it.owner.pid)
			b = protocol.AppendAtom(b, kind)
		}
	}
	b = protocol.AppendNil(b)
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	b = protocol.AppendAtom(b, "counters")
	counters := []struct {
		name string
		v    uint64
	}{
		{"requests", d.cnt.Requests},
		{"events", d.cnt.Events},
		{"errors", d.cnt.Errors},
		{"fds_received", d.cnt.FDsReceived},
		{"fds_closed", d.cnt.FDsClosed},
		{"dropped", d.cnt.Dropped},
		{"frames", d.cnt.Frames},
		{"fds_opened", d.cnt.FDsOpened},
		{"fds_sent", d.cnt.FDsSent},
		{"vm_closed", d.cnt.VMClosed},
		{"armed", uint64(len(d.byVM))},
		{"io_handles", uint64(d.IOHandles())},
		{"goroutines", uint64(runtime.NumGoroutine())},
		{"heap_bytes", mem.HeapAlloc},
		{"sys_bytes", mem.Sys},
	}
	b = protocol.AppendMapHeader(b, len(counters))
	for _, c := range counters {
		b = protocol.AppendAtom(b, c.name)
		b = protocol.AppendInt(b, int64(c.v))
	}
	d.out.Reply(req.Pid, req.Ref, b)
}
