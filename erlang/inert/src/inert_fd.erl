%% @doc Passing file descriptors, with plain OTP and with inertd.
%%
%% Over any unix socket (`socket:open(local, stream | seqpacket | dgram)'):
%% `send/3,4' sends a payload and fds in one `SCM_RIGHTS' control message,
%% `recv/2,3' receives one message and the fds that came with it. The other
%% end may be another VM, or a Go program using `protocol.SendFDs' and
%% `protocol.RecvFDs'.
%%
%% With inertd: `dup/1,2' duplicates an fd through an `SCM_RIGHTS' round
%% trip, and `open/1,2' has inertd make a TCP or UDP socket and hand it
%% over (inertd may bind ports the VM cannot).
%%
%% An fd obtained here is a bare integer: no process or port of the VM owns
%% it, and it stays open until `close/1' closes it. Hand it to whatever
%% will use it (`inert:fdset/2', `socket:open/2', `gen_udp:open/2' with
%% `{fd, FD}'; those do not close it either), and close it when done.
%% `close/1' works on any fd number, so close only fds you own.
-module(inert_fd).

%% This module is the public face: the fd functions without inertd are
%% inert_fdlib's, the requests to inertd prim_inert's.

-export([send/3, send/4, recv/2, recv/3, take/2, dup/1, dup/2, open/1, open/2,
         close/1, spec/1]).

-export_type([fd/0, spec/0, full_spec/0, error_reason/0]).

-type fd() :: inert_fdlib:fd().
%% A file descriptor number: a non-negative integer.
-type spec() :: inert_fdlib:spec().
%% The socket `open/1,2' makes: a map, or a proplist of the same, with
%% the keys `type' (`tcp | udp'), `family' (`inet | inet6'), `addr' (an
%% `inet:ip_address()', a string, `any' or `loopback'), `port'
%% (`inet:port_number()'), `reuseaddr' and `reuseport' (booleans) and
%% `backlog' (a non-negative integer). Every key may be left out:
%% `open/2' says the defaults.
-type full_spec() :: inert_fdlib:full_spec().
%% A `spec()' with every key filled in (`backlog' for tcp only), as
%% `spec/1' returns it and as it goes to inertd.
-type error_reason() :: inert_fdlib:error_reason().
%% Why `send', `recv' or `take' failed: `too_many_fds', `truncated' or
%% `unexpected_control' (see `recv/3'), `einval' for a bad argument, or
%% what the `socket' module says: `closed', `timeout', an
%% `inet:posix()' errno.

%%--------------------------------------------------------------------
%% Over any unix socket
%%--------------------------------------------------------------------

%% @doc Send `Payload' with `FDs' over the unix socket `Sock'.
%% @equiv send(Sock, Payload, FDs, infinity)
-spec send(socket:socket(), iodata(), [fd()]) -> ok | {error, error_reason()}.
send(Sock, Payload, FDs) ->
    send(Sock, Payload, FDs, infinity).

%% @doc Send `Payload' and, in one `SCM_RIGHTS' control message, `FDs' (at
%% most 253). The fds stay open here: the receiver gets its own. An empty
%% payload with fds is sent as one zero byte, as Go's `unix.Sendmsg' does
%% (a stream socket sends no fds without data). On a stream socket the fds
%% go with the first byte and a payload sent in part is finished with
%% `socket:send/3'. `{error, ebadf}' when an fd is not open.
-spec send(socket:socket(), iodata(), [fd()], timeout()) -> ok | {error, error_reason()}.
send(Sock, Payload, FDs, Timeout) ->
    inert_fdlib:send(Sock, Payload, FDs, Timeout).

%% @doc Receive one message with at most `MaxFDs' fds.
%% @equiv recv(Sock, MaxFDs, infinity)
-spec recv(socket:socket(), non_neg_integer()) ->
    {ok, binary(), [fd()]} | {error, error_reason()}.
recv(Sock, MaxFDs) ->
    recv(Sock, MaxFDs, infinity).

%% @doc Receive one message (on a stream socket: the bytes waiting) and the
%% fds that came with it, at most `MaxFDs'. The fds belong to the caller.
%%
%% A message that breaks these rules is refused, and every fd it brought
%% is closed before this returns: more than `MaxFDs' fds, or more than the
%% control buffer held (`too_many_fds'); control data other than
%% `SCM_RIGHTS' (`unexpected_control'); a payload cut short on a
%% message-based socket (`truncated'). Socket errors (`closed', `timeout',
%% ...) pass through.
-spec recv(socket:socket(), non_neg_integer(), timeout()) ->
    {ok, binary(), [fd()]} | {error, error_reason()}.
recv(Sock, MaxFDs, Timeout) ->
    inert_fdlib:recv(Sock, MaxFDs, Timeout).

%% @doc The payload and fds of a message from `socket:recvmsg', with the
%% rules of `recv/3': for callers that receive with `nowait' themselves.
%% Anything but such a message, or a bad `MaxFDs', is `{error, einval}'.
-spec take(socket:msg_recv() | term(), non_neg_integer() | term()) ->
    {ok, binary(), [fd()]} | {error, too_many_fds | truncated | unexpected_control | einval}.
take(Msg, MaxFDs) ->
    inert_fdlib:take(Msg, MaxFDs).

%% @doc Close an fd obtained from this module (or any fd the caller owns
%% that nothing in the VM holds). OTP 25 closes an integer fd only through
%% `prim_file': `socket:open(FD, #{dup => false})' and `gen_udp' or
%% `gen_tcp' with `{fd, FD}' leave it open when they close.
-spec close(term()) -> ok | {error, ebadf | term()}.
close(FD) ->
    inert_fdlib:close(FD).

%% @doc The spec of `open/2' with every key filled in, as it goes to
%% inertd (PROTOCOL.md), or `error'.
-spec spec(term()) -> {ok, full_spec()} | error.
spec(Spec) ->
    inert_fdlib:spec(Spec).

%%--------------------------------------------------------------------
%% With inertd
%%--------------------------------------------------------------------

%% @doc Duplicate `FD' through the shared service (`inert').
%% @equiv prim_inert:dup(inert, FD)
-spec dup(fd()) -> {ok, fd()} | prim_inert:errno().
dup(FD) ->
    prim_inert:dup(inert, FD).

%% @doc Duplicate `FD' through the service `Handle': inertd receives it and
%% hands it back, so the new fd refers to the same open file (a socket:
%% the same socket). The caller owns it; close it with `close/1'.
-spec dup(prim_inert:handle(), fd()) -> {ok, fd()} | prim_inert:errno().
dup(Handle, FD) ->
    prim_inert:dup(Handle, FD).

%% @doc Have the shared service open a socket.
%% @equiv prim_inert:open(inert, Spec)
-spec open(spec()) -> {ok, fd()} | prim_inert:errno().
open(Spec) ->
    prim_inert:open(inert, Spec).

%% @doc Have inertd make a socket, bind it and, for tcp, listen, and hand
%% it to the caller, who owns it (close it with `close/1'). `Spec' is a
%% map or proplist of (defaults in parentheses): `type', `tcp' or `udp'
%% (`tcp'); `family', `inet' or `inet6' (`inet6' when `addr' is an IPv6
%% tuple, else `inet'); `addr', an address tuple, a string, `any' or
%% `loopback' (`any'); `port' (`0'); `reuseaddr' and `reuseport' (`false');
%% `backlog' (`128', tcp only). Errors are the errno of the call that
%% failed in inertd (`eaddrinuse', `eacces', ...) or `einval' for a bad
%% spec.
-spec open(prim_inert:handle(), spec()) -> {ok, fd()} | prim_inert:errno().
open(Handle, Spec) ->
    prim_inert:open(Handle, Spec).
