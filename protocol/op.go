package protocol

import "strconv"

// Op names a request of PROTOCOL.md; ops (below) is its table.
type Op uint8

const (
	OpInvalid Op = iota
	OpHello
	OpFdset
	OpPoll
	OpFdclr
	OpCancel
	OpDown
	OpControllingProcess
	OpInfo
	OpAck
	OpDup
	OpOpen
	OpTermios
	OpIOOpen
	OpIOCredit
	OpIOSend
	OpIOClose
)

// ops is the operation table: one row per request of PROTOCOL.md's
// requests table, with the atom that opens the request tuple and the
// tuple sizes it may have (lo = hi but for the takeover forms of fdset and
// poll, which add Dead). ParseRequest (opNamed, arity), AppendRequest and
// Op.String read it; nothing else names a request. The TestOpTable tests
// check it against PROTOCOL.md, the golden frames OTP wrote and the frames
// of the Erlang encoder, inert_req (testdata/inert_req.frames).
var ops = [...]struct {
	name   string
	lo, hi int
}{
	OpHello:              {"hello", 2, 2},
	OpFdset:              {"fdset", 5, 6},
	OpPoll:               {"poll", 5, 6},
	OpFdclr:              {"fdclr", 5, 5},
	OpCancel:             {"cancel", 3, 3},
	OpDown:               {"down", 2, 2},
	OpControllingProcess: {"controlling_process", 4, 4},
	OpInfo:               {"info", 3, 3},
	OpAck:                {"ack", 2, 2},
	OpDup:                {"dup", 4, 4},
	OpOpen:               {"open", 4, 4},
	OpTermios:            {"termios", 5, 5},
	OpIOOpen:             {"io_open", 7, 7},
	OpIOCredit:           {"io_credit", 4, 4},
	OpIOSend:             {"io_send", 4, 4},
	OpIOClose:            {"io_close", 3, 3},
}

// String returns the request's atom, e.g. "fdset"; an Op outside the
// table is "Op(N)".
func (op Op) String() string {
	if op != OpInvalid && int(op) < len(ops) {
		return ops[op].name
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

// opNamed maps the first element of a request tuple to its Op, OpInvalid
// when no row has that atom.
func opNamed(name []byte) Op {
	for op := OpInvalid + 1; int(op) < len(ops); op++ {
		if string(name) == ops[op].name {
			return op
		}
	}
	return OpInvalid
}

// arity returns the tuple sizes PROTOCOL.md allows for op; lo > hi for an
// Op outside the table.
func arity(op Op) (lo, hi int) {
	if op == OpInvalid || int(op) >= len(ops) {
		return 0, -1
	}
	return ops[op].lo, ops[op].hi
}
