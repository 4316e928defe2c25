%% @doc The requests of the VM to inertd (PROTOCOL.md, "Requests"): the
%% only place a request term or an acknowledgement frame is built, the
%% one encoding of them (`encode/1'), and the one function that sends a
%% request on the side channel, with its fd as SCM_RIGHTS.
%%
%% Owns no process and no state. Must not wait for an answer (answers
%% come through the service process, see `inert_srv'), nor decide what a
%% failed send means beyond saying whether the daemon is gone (`gone/1').
%%
%% @private
-module(inert_req).

-export([hello/1, fdset/5, poll/5, fdclr/4, controlling_process/3, info/2, dup/3, open/3,
         cancel/2, down/1, ack/1, termios/4]).
-export([io_open/6, io_credit/3, io_send/3, io_close/2]).
-export([encode/1, send/4, gone/1]).

-export_type([request/0, send_error/0]).

%% A request as it goes to inertd: the names and arities of the rows of
%% PROTOCOL.md. `Dead' names a process whose interest in the fd the
%% request replaces (inertd drops it).
-type request() ::
        {hello, pid()}
      | {fdset, pid(), integer(), fd(), mode()}
      | {fdset, pid(), integer(), fd(), mode(), pid()}
      | {poll, pid(), reference(), fd(), mode()}
      | {poll, pid(), reference(), fd(), mode(), pid()}
      | {fdclr, pid(), reference(), fd(), mode()}
      | {controlling_process, pid(), reference(), pid()}
      | {info, pid(), reference()}
      | {dup, pid(), reference(), fd()}
      | open_request()
      | {cancel, reference(), fd()}
      | {down, pid()}
      | {termios, pid(), reference(), fd(), inert_fdlib:termios()}
      | {io_open, pid(), reference(), fd(), io_type(), pos_integer(), pos_integer()}
      | {io_credit, pid(), reference(), pos_integer()}
      | {io_send, pid(), reference(), binary()}
      | {io_close, pid(), reference()}.
-type io_type() :: stream | datagram.
-type open_request() :: {open, pid(), reference(), inert_fdlib:full_spec()}.
-type fd() :: non_neg_integer().
-type mode() :: read | write | read_write.
%% closed | epipe | econnreset | enotconn (see gone/1), timeout (no room
%% before the deadline), ebadf (the fd is not open in the VM), or another
%% reason of socket:sendmsg/3.
-type send_error() :: closed | timeout | inet:posix() | eio | atom().

%% @doc The owner's hello on a new side channel.
-spec hello(pid()) -> request().
hello(Owner) -> {hello, Owner}.

%% @doc An fdset of `FD' by `Pid'; its events carry `Gen'.
-spec fdset(pid(), integer(), fd(), mode(), [pid()]) -> request().
fdset(Pid, Gen, FD, Mode, []) -> {fdset, Pid, Gen, FD, Mode};
fdset(Pid, Gen, FD, Mode, [Dead]) -> {fdset, Pid, Gen, FD, Mode, Dead}.

%% @doc A poll of `FD' by `Pid', answered with `Ref'.
-spec poll(pid(), reference(), fd(), mode(), [pid()]) -> request().
poll(Pid, Ref, FD, Mode, []) -> {poll, Pid, Ref, FD, Mode};
poll(Pid, Ref, FD, Mode, [Dead]) -> {poll, Pid, Ref, FD, Mode, Dead}.

%% @doc Clear `Mode' of `FD', whoever armed it.
-spec fdclr(pid(), reference(), fd(), mode()) -> request().
fdclr(Pid, Ref, FD, Mode) -> {fdclr, Pid, Ref, FD, Mode}.

%% @doc Make `NewOwner' the controlling process.
-spec controlling_process(pid(), reference(), pid()) -> request().
controlling_process(Pid, Ref, NewOwner) -> {controlling_process, Pid, Ref, NewOwner}.

%% @doc The daemon's view.
-spec info(pid(), reference()) -> request().
info(Pid, Ref) -> {info, Pid, Ref}.

%% @doc Duplicate `FD' (sent with the request) and hand it back.
-spec dup(pid(), reference(), fd()) -> request().
dup(Pid, Ref, FD) -> {dup, Pid, Ref, FD}.

%% @doc Open the socket `Spec' describes (see `inert_fd:spec/1').
-spec open(pid(), reference(), inert_fdlib:full_spec()) -> open_request().
open(Pid, Ref, Spec) -> {open, Pid, Ref, Spec}.

%% @doc Set the line of the tty `FD' (sent with the request).
-spec termios(pid(), reference(), fd(), inert_fdlib:termios()) -> request().
termios(Pid, Ref, FD, Termios) -> {termios, Pid, Ref, FD, Termios}.

%% @doc End the poll `Ref' of `FD' that timed out.
-spec cancel(reference(), fd()) -> request().
cancel(Ref, FD) -> {cancel, Ref, FD}.

%% @doc `Pid' died: inertd clears whatever it still holds.
-spec down(pid()) -> request().
down(Pid) -> {down, Pid}.

%% @doc Open the I/O handle `Ref' of `Pid' on `FD' (sent with the
%% request): `Type' framing, reads of `ReadSize' bytes, at most
%% `SendQueue' bytes queued in inertd (PROTOCOL.md, "I/O handles").
-spec io_open(pid(), reference(), fd(), io_type(), pos_integer(), pos_integer()) -> request().
io_open(Pid, Ref, FD, Type, ReadSize, SendQueue) ->
    {io_open, Pid, Ref, FD, Type, ReadSize, SendQueue}.

%% @doc Let the handle `Ref' read `Bytes' more.
-spec io_credit(pid(), reference(), pos_integer()) -> request().
io_credit(Pid, Ref, Bytes) -> {io_credit, Pid, Ref, Bytes}.

%% @doc Queue `Data' (at most 60000 bytes) for writing on the handle `Ref'.
-spec io_send(pid(), reference(), binary()) -> request().
io_send(Pid, Ref, Data) -> {io_send, Pid, Ref, Data}.

%% @doc Close the handle `Ref'.
-spec io_close(pid(), reference()) -> request().
io_close(Pid, Ref) -> {io_close, Pid, Ref}.

%% @doc The acknowledgement of `Frames' frames, written on inertd's stdin
%% (PROTOCOL.md, "Flow control").
-spec ack(pos_integer()) -> binary().
ack(Frames) -> encode({ack, Frames}).

%% @doc The bytes of a request (one side-channel message) or of an
%% acknowledgement (one stdin frame's payload). send/4 and ack/1 encode
%% with it; protocol/testdata/inert_req.frames holds its output for one
%% request of every PROTOCOL.md row, which inertd's decoder is tested on.
%% The encoding is pinned (minor version 1: atoms as ATOM_EXT, as OTP 25
%% writes them by default), so the bytes do not change with a newer OTP's
%% default; inertd decodes either.
-spec encode(request() | {ack, pos_integer()}) -> binary().
encode(Term) -> term_to_binary(Term, [{minor_version, 1}]).

%% @doc Send `Req' on the side channel `Sock', with `FD' as SCM_RIGHTS
%% unless it is `none', waiting for room until `Deadline' (`{error,
%% timeout}' then). A seqpacket message goes whole or not at all, so a
%% send that timed out sent nothing.
-spec send(socket:socket(), request(), fd() | none, inert_deadline:deadline()) ->
    ok | {error, send_error()}.
send(Sock, Req, FD, Deadline) ->
    Msg = msg(Req, FD),
    %% First without a timeout, which spares the deadline's clock reads
    %% and timer (about 0.4 us of the 2.4 a send costs); only a full side
    %% channel takes the timed path.
    case out(Sock, Msg, nowait) of
        ok ->
            ok;
        {select, {select_info, _, _} = SelectInfo} ->
            ok = drop_select(Sock, SelectInfo),
            send_msg(Sock, Msg, Deadline);
        {select, {SelectInfo, _Rest}} ->
            %% Part of a message: not on a seqpacket socket.
            ok = drop_select(Sock, SelectInfo),
            {error, eio};
        Other ->
            send_result(Other)
    end.

%% A nowait send that found no room left a select pending: take it back,
%% and its message if it came meanwhile.
drop_select(Sock, {select_info, _Tag, Handle} = SelectInfo) ->
    _ = socket:cancel(Sock, SelectInfo),
    receive
        {'$socket', Sock, select, Handle} -> ok
    after 0 ->
        ok
    end.

send_msg(Sock, Msg, Deadline) ->
    case out(Sock, Msg, inert_deadline:chunk(Deadline)) of
        {error, timeout} ->
            case inert_deadline:left(Deadline) of
                0 -> {error, timeout};
                _ -> send_msg(Sock, Msg, Deadline)
            end;
        Other ->
            send_result(Other)
    end.

send_result(ok) -> ok;
send_result({error, {Reason, _Rest}}) -> {error, Reason};
send_result({error, _} = Error) -> Error;
%% Not on a seqpacket socket: a message is sent whole.
send_result({ok, _Rest}) -> {error, eio}.

%% A request without an fd goes with send/3, half the cost of sendmsg/3
%% (no msghdr map to take apart).
out(Sock, Bin, Timeout) when is_binary(Bin) ->
    socket:send(Sock, Bin, Timeout);
out(Sock, Msg, Timeout) ->
    socket:sendmsg(Sock, Msg, Timeout).

msg(Req, none) ->
    encode(Req);
msg(Req, FD) ->
    #{iov => [encode(Req)],
      ctrl => [#{level => socket, type => rights, data => <<FD:32/native>>}]}.

%% @doc Whether a send error means the daemon is gone (its side channel
%% closed): the request is then for its successor.
-spec gone(send_error()) -> boolean().
gone(closed) -> true;
gone(epipe) -> true;
gone(econnreset) -> true;
gone(enotconn) -> true;
gone(_) -> false.
