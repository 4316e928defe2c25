package driver

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

type lines []string

func (l *lines) Warningf(format string, a ...any) { *l = append(*l, fmt.Sprintf(format, a...)) }

func TestRateLimitWritesTheFirstLineThenOneASecondWithTheCount(t *testing.T) {
	clock := time.Unix(1000, 0)
	r := RateLimit{now: func() time.Time { return clock }}
	var got lines
	for i := 0; i < 5; i++ { // a burst: the first is written
		r.Warningf(&got, "dropped %d", i)
		clock = clock.Add(100 * time.Millisecond)
	}
	clock = clock.Add(time.Second)
	r.Warningf(&got, "dropped %d", 5) // a second later: with the count
	r.Warningf(&got, "dropped %d", 6)
	want := lines{"dropped 0", "dropped 5 (4 more like it left out)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}
