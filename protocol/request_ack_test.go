package protocol

import (
	"errors"
	"testing"
)

func TestAckRequestCarriesTheFrameCount(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		want  int64
		err   error
	}{
		// term_to_binary({ack, 5}) on OTP 25 (ATOM_EXT for the atom).
		{"otp small integer", []byte{131, 104, 2, 100, 0, 3, 'a', 'c', 'k', 97, 5}, 5, nil},
		// term_to_binary({ack, 70000}).
		{"otp integer", []byte{131, 104, 2, 100, 0, 3, 'a', 'c', 'k', 98, 0, 1, 17, 112}, 70000, nil},
		{"negative count", []byte{131, 104, 2, 100, 0, 3, 'a', 'c', 'k', 98, 255, 255, 255, 255}, 0, ErrRequest},
		{"count is an atom", []byte{131, 104, 2, 100, 0, 3, 'a', 'c', 'k', 119, 1, 'x'}, 0, ErrRequest},
		{"count missing", []byte{131, 104, 1, 100, 0, 3, 'a', 'c', 'k'}, 0, ErrRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(c.frame, &r)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && (r.Op != OpAck || r.Acked != c.want) {
				t.Fatalf("got op %d acked %d, want ack %d", r.Op, r.Acked, c.want)
			}
		})
	}
}

func TestAckRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 255, 256, 1 << 31, 1 << 40} {
		var r Request
		if err := ParseRequest(AppendRequest(nil, &Request{Op: OpAck, Acked: n}), &r); err != nil || r.Acked != n {
			t.Fatalf("ack %d: got %d, %v", n, r.Acked, err)
		}
	}
}
