package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ergo-services/ergo/etf"
	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// buildInertd builds the daemon as it ships (CGO_ENABLED=0, as the
// Makefile and rebar3 hook do): only such a binary can change the
// capabilities of all its threads.
func buildInertd(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "inertd")
	cmd := exec.Command("go", "build", "-o", exe, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// capSets reads CapEff and CapPrm of every thread of pid.
func capSets(t *testing.T, pid int) (eff, prm []uint64) {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	for _, path := range tasks {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":\t")
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			switch k {
			case "CapEff":
				eff = append(eff, n)
			case "CapPrm":
				prm = append(prm, n)
			}
		}
		f.Close()
	}
	return eff, prm
}

// inertd keeps three capabilities when it is given them, permitted and
// never effective but around the one call each is for: binding a port
// below 1024 for open, making a TUN or TAP interface for open
// (device_linux_test.go), and comparing the VM's fds with its copies
// (kcmp, refused to a process without CAP_SYS_PTRACE whose permitted set
// is smaller than the VM's). Its threads show them permitted, not
// effective, before and after a re-check pass has used one.
func TestInertdKeepsNoPrivilegeButBindServiceNetAdminAndPtrace(t *testing.T) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var mine [2]unix.CapUserData
	if err := unix.Capget(&hdr, &mine[0]); err != nil {
		t.Fatal(err)
	}
	wantPrm := uint64(mine[0].Permitted & keptBits)
	if wantPrm == 0 {
		t.Log("the test runs without CAP_NET_BIND_SERVICE, CAP_NET_ADMIN and CAP_SYS_PTRACE: inertd must end with no capability at all")
	}
	d := startExe(t, buildInertd(t), os.Getpid(), "-recheck", "10ms")
	d.connect()
	check := func(when string) {
		eff, prm := capSets(t, d.osPid)
		for i := range eff {
			if eff[i] != 0 || prm[i] != wantPrm {
				t.Errorf("%s: thread %d of inertd: CapEff %#x CapPrm %#x, want 0 and %#x", when, i, eff[i], prm[i], wantPrm)
			}
		}
		t.Logf("%s: %d threads, each CapEff 0, CapPrm %#x (test process had CapEff %#x)", when, len(eff), wantPrm, mine[0].Effective)
	}
	check("before a re-check")
	// A re-check pass that sees an fd the VM closed has run once the
	// closed entry arrives.
	vmEnd, peer := streamPair(t)
	d.send(fdset(1, 3, vmEnd, protocol.ModeRead), vmEnd)
	unix.Close(vmEnd)
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{closed, 1, 3, %d}", vmEnd) {
		t.Fatalf("after the VM closed an armed fd: %s, want {closed, 1, 3, %d}", show(e), vmEnd)
	}
	_ = peer
	check("after a re-check")
}

// setFileCaps gives exe the file capability cap_net_bind_service=p, as
// setcap(8) would: a VFS_CAP_REVISION_2 security.capability attribute.
func setFileCaps(t *testing.T, exe string) {
	t.Helper()
	v := make([]byte, 20) // magic_etc, then {permitted, inheritable} x 2
	binary.LittleEndian.PutUint32(v[0:], 0x02000000)
	binary.LittleEndian.PutUint32(v[4:], bindServiceBit)
	if err := unix.Setxattr(exe, "security.capability", v, 0); err != nil {
		t.Skipf("cannot set file capabilities on %s: %v", exe, err)
	}
}

// freePrivilegedPort is a port below 1024 free on 127.0.0.1 (the test runs
// as root, so it may look).
func freePrivilegedPort(t *testing.T) int {
	t.Helper()
	for _, p := range []int{80, 81, 443, 1000, 1001, 1002, 1003} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Skip("no free port below 1024 on 127.0.0.1")
	return 0
}

// The open call is the one place a capability is used: an unprivileged
// inertd given cap_net_bind_service=p binds a port below 1024 for the VM,
// and has an empty effective set on every thread before and after; the
// same inertd not given it answers eacces and goes on serving.
func TestOpenOfAPrivilegedPortUsesTheGivenCapabilityForTheBindAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set file capabilities and run inertd as nobody")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= 80 {
			t.Skipf("ip_unprivileged_port_start is %d: ports below 1024 need no capability here", start)
		}
	}
	exe := buildInertd(t)
	for _, tc := range []struct {
		name    string
		fileCap bool
		wantPrm uint64
		wantErr etf.Atom
	}{
		{"given cap_net_bind_service=p it binds", true, bindServiceBit, ""},
		{"given nothing it answers eacces", false, 0, "eacces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "inertd-caps")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			bin := filepath.Join(dir, "inertd")
			copyFile(t, exe, bin)
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.fileCap {
				setFileCaps(t, bin)
			}
			cmd := inertdCmd(bin, os.Getpid())
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			d := startCmd(t, cmd)
			d.connect()
			checkCaps := func(when string) {
				eff, prm := capSets(t, d.osPid)
				for i := range eff {
					if eff[i] != 0 || prm[i] != tc.wantPrm {
						t.Errorf("%s, thread %d of inertd: CapEff %#x CapPrm %#x, want 0 and %#x", when, i, eff[i], prm[i], tc.wantPrm)
					}
				}
			}
			checkCaps("before open")
			port := freePrivilegedPort(t)
			d.send(openReq(1, protocol.OpenSpec{Proto: protocol.ProtoTCP, Family: protocol.FamilyInet,
				Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1}), Port: uint16(port), Backlog: 1}))
			if tc.wantErr != "" {
				e := d.entries(1)[0]
				if e[0] != etf.Atom("error") || e[3] != tc.wantErr {
					t.Fatalf("open of 127.0.0.1:%d answered %v, want {error, _, _, %s}", port, e, tc.wantErr)
				}
				d.noHandover()
			} else {
				fd := d.handover(1)
				sa, err := unix.Getsockname(fd)
				if err != nil {
					t.Fatal(err)
				}
				if in4 := sa.(*unix.SockaddrInet4); in4.Port != port {
					t.Fatalf("handed socket bound to port %d, want %d", in4.Port, port)
				}
			}
			d.info() // still serving
			checkCaps("after open")
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestEveryFDInertdHoldsIsCloseOnExec(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	rx, _ := socketpair(t)
	d.send(fdset(1, 1, rx, 1), rx)
	d.info() // the fdset is handled
	dir := "/proc/" + strconv.Itoa(d.osPid) + "/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if fd <= 2 {
			continue // stdio
		}
		if inherited, _ := fdFlags("/proc/self/fdinfo/" + e.Name()); inherited&unix.O_CLOEXEC == 0 && inherited != 0 {
			// Leaked into this test process by whatever started it and so
			// into the child too; the VM's erl_child_setup closes those.
			continue
		}
		flags, err := fdFlags(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		checked++
		if flags&unix.O_CLOEXEC == 0 {
			link, _ := os.Readlink("/proc/" + strconv.Itoa(d.osPid) + "/fd/" + e.Name())
			t.Errorf("inertd fd %d (%s) is not close-on-exec (flags %o)", fd, link, flags)
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d fds; want at least the pollset, the side channel and the duplicate", checked)
	}
}

// fdFlags reads the flags line of a /proc fdinfo file.
func fdFlags(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:\t"); ok {
			return strconv.ParseUint(v, 8, 64)
		}
	}
	return 0, nil
}
