package driver

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The VM decodes frames with binary_to_term(_, [safe]), which refuses
// atoms it has never seen: every errno atom errnoName can produce must be
// listed in inert_srv:errnos/0, or a frame carrying it is dropped.
func TestEveryErrnoAtomIsKnownToTheVM(t *testing.T) {
	src, err := os.ReadFile("../erlang/inert/src/inert_srv.erl")
	if err != nil {
		t.Skipf("Erlang sources not found: %v", err)
	}
	body := regexp.MustCompile(`(?s)\nerrnos\(\) ->\s*\[(.*?)\]\.`).FindSubmatch(src)
	if body == nil {
		t.Fatal("inert_srv.erl has no errnos() -> [...] list")
	}
	known := map[string]bool{}
	for _, a := range strings.Split(string(body[1]), ",") {
		known[strings.TrimSpace(a)] = true
	}
	for e := 1; e < 256; e++ {
		if name := errnoName(syscall.Errno(e)); !known[name] {
			t.Errorf("errno %d is %q, missing from inert_srv:errnos/0", e, name)
		}
	}
}
