%% @doc Passing file descriptors, with plain OTP and with inertd.
%%
%% Over any unix socket (`socket:open(local, stream | seqpacket | dgram)'):
%% `send/3,4' sends a payload and fds in one `SCM_RIGHTS' control message,
%% `recv/2,3' receives one message and the fds that came with it. The other
%% end may be another VM, or a Go program using `protocol.SendFDs' and
%% `protocol.RecvFDs'.
%%
%% With inertd: `dup/1,2' duplicates an fd through an `SCM_RIGHTS' round
%% trip, and `open/1,2' has inertd make a TCP or UDP socket, a TUN or TAP
%% interface or a pty pair and hand it over (inertd may bind ports and
%% make interfaces the VM cannot).
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
         termios/2, termios/3, close/1, spec/1]).

-export_type([fd/0, spec/0, full_spec/0, termios/0, info/0, error_reason/0]).

-type fd() :: inert_fdlib:fd().
%% A file descriptor number: a non-negative integer.
-type spec() :: inert_fdlib:spec().
%% The socket `open/1,2' makes: a map, or a proplist of the same, with
%% the keys `type' (`tcp | udp'), `family' (`inet | inet6'), `addr' (an
%% `inet:ip_address()', a string, `any' or `loopback'), `port'
%% (`inet:port_number()'), `reuseaddr' and `reuseport' (booleans) and
%% `backlog' (a non-negative integer). Every key may be left out:
%% `open/2' says the defaults. Or a device (Linux):
%% `#{type => tun | tap, name => Name, pi => boolean()}' or
%% `#{type => pty, termios => termios()}'.
-type full_spec() :: inert_fdlib:full_spec().
%% A `spec()' with every key filled in (`backlog' for tcp only), as
%% `spec/1' returns it and as it goes to inertd.
-type termios() :: inert_fdlib:termios().
%% The line settings of a tty: `speed' (a termios(3) rate), `raw',
%% `data_bits', `parity', `stop_bits', `flow'; a key left out stays as
%% the kernel made it.
-type info() :: inert_handover:info().
%% What `open/1,2' says of a device: `name' (tun, tap), `path' and `peer'
%% (pty).
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

%% @doc Have the shared service open a socket or a device.
%% @equiv prim_inert:open(inert, Spec)
-spec open(spec()) -> {ok, fd()} | {ok, fd(), info()} | prim_inert:errno().
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
%%
%% Devices (Linux) answer `{ok, FD, Info}':
%%
%% `#{type => tun | tap, name => Name, pi => boolean()}' makes a TUN (IP
%% packets) or TAP (Ethernet frames) interface on `/dev/net/tun' and
%% hands its fd; `Info' is `#{name => Name}', the interface the kernel
%% made (`name' a binary or string of at most 15 bytes, which may hold a
%% `%d' for the kernel to fill in; left out or `<<>>': the kernel picks
%% `tunN' or `tapN'). `pi' (`false') keeps the 4-byte packet information
%% header before each packet (no `IFF_NO_PI'). The interface lives as
%% long as an fd of it is open, and is made in inertd's network
%% namespace, which is the VM's. It needs `CAP_NET_ADMIN' in inertd: a
%% VM running as root has it, or `setcap cap_net_admin=p' on inertd;
%% inertd keeps it permitted only and raises it for the one ioctl.
%% Without it: `{error, eperm}'.
%%
%% `#{type => pty, termios => Termios}' makes a pty pair: `FD' is the
%% controlling side (`/dev/ptmx'), and `Info' is
%% `#{peer => PeerFD, path => Path}', the other side, open, and its path
%% (`/dev/pts/N', for a program that opens it by name). The caller owns
%% both fds. `Termios' (a map or proplist, every key optional: left out,
%% the kernel's setting stays) sets the peer's line: `speed' (bits per
%% second, one of termios(3)'s rates, 50 to 4000000), `raw' (`true':
%% cfmakeraw(3), applied first), `data_bits' (5..8), `parity'
%% (`none | even | odd'), `stop_bits' (1 or 2), `flow'
%% (`none | hardware | software': RTS/CTS or XON/XOFF). inertd reads the
%% settings back: one the kernel did not take is `{error, einval}' (a
%% Linux pty keeps 8 data bits and no parity whatever is asked).
-spec open(prim_inert:handle(), spec()) ->
    {ok, fd()} | {ok, fd(), info()} | prim_inert:errno().
open(Handle, Spec) ->
    prim_inert:open(Handle, Spec).

%% @doc Set the line of a tty through the shared service.
%% @equiv termios(inert, FD, Termios)
-spec termios(fd(), termios() | list()) -> ok | prim_inert:errno().
termios(FD, Termios) ->
    prim_inert:termios(inert, FD, Termios).

%% @doc Have inertd set the line of the tty `FD' the caller holds (a
%% serial line opened elsewhere, a pty side): `Termios' as for a pty in
%% `open/2' (`speed', `raw', `data_bits', `parity', `stop_bits', `flow',
%% each optional). inertd applies it to the open file, reads it back and
%% closes its copy; `FD' stays open and the caller's, with the settings.
%% `{error, ebadf}' for an fd not open, `einval' for a bad `Termios' or a
%% setting the kernel did not take, `enotty' for an fd that is not a tty.
-spec termios(prim_inert:handle(), fd(), termios() | list()) -> ok | prim_inert:errno().
termios(Handle, FD, Termios) ->
    prim_inert:termios(Handle, FD, Termios).
