%% @doc Read and write any fd through inertd, with flow control: an I/O
%% handle.
%%
%% `open/2' hands an fd of the VM (a socket from `socket:getopt(S, otp,
%% fd)', a pipe, a tty, a TUN device, ...) to inertd, which from then on
%% reads it when it is readable and the handle's flow control allows, and
%% writes what `send/2' gives it. The caller of `open/2' is the
%% controlling process (the owner); it gets the data as messages
%% (`{active, true | once | N}') or with `recv/3' (`{active, false}'):
%%
%% ```
%% {inert_io, H, Data}         % data: a datagram, a packet, or bytes (raw)
%% {inert_io_passive, H}       % {active, N} ran out: the handle is passive
%% {inert_io_error, H, Reason} % a read or write failed (then closed)
%% {inert_io_closed, H}        % the handle has ended (end of file, error)
%% '''
%%
%% Flow control: inertd reads only as much as the handle has room for
%% (the `buffer' option, 256 KiB by default, plus at most one read);
%% a passive handle that nobody reads, or an active once/N handle that
%% is not re-activated, makes inertd stop reading the fd, so the
%% kernel's buffer fills and the peer's writes block. With `{active,
%% true}' every message goes to the owner's mailbox at once and there is
%% no flow control (as with `gen_tcp').
%%
%% The fd passed to `open/2' stays the caller's: inertd works on its own
%% duplicate, so the caller may (and usually should) close its fd once
%% `open/2' returns. The handle sets `O_NONBLOCK' on the open file, which
%% the caller's fd shares; sockets are also read and written with
%% `MSG_DONTWAIT', since `socket:close/1' clears that flag. For a pipe or
%% a tty the flag must stay set.
%%
%% The handle needs the inert application (`inert:start()'): it uses the
%% shared service. Its process is supervised by `inert_io_sup'.
-module(inert_io).

-export([open/2, send/2, recv/2, recv/3, setopts/2, controlling_process/2, close/1]).

-export_type([handle/0, option/0]).

-type handle() :: pid().
%% An I/O handle, as `open/2' returns it: the pid of the handle's
%% process, which the messages to the owner carry.
-type option() :: {type, stream | datagram}
                | {packet, raw | 0 | 1 | 2 | 4}
                | {active, boolean() | once | -32768..32767}
                | {read_size, 1..1048576}
                | {buffer, pos_integer()}
                | {send_queue, 1..67108864}
                | {packet_size, pos_integer()}
                | {send_timeout, timeout()}.
%% An option of `open/2' and `setopts/2'; `open/2' says what each means
%% and its default.

-define(MAX_FD, 16#7fffffff).
%% The longest recv/3 (its bytes are held in the VM until it returns).
-define(MAX_RECV, 1 bsl 30).

%% @doc Open an I/O handle on `FD'; the caller becomes its owner.
%%
%% Options (defaults in parentheses):
%% <ul>
%% <li>`{type, stream | datagram}' (`stream'): `datagram' makes each read
%%   one message (UDP, `SOCK_SEQPACKET', TUN) and each `send/2' one
%%   write (a pipe or tty that takes part of it gets the rest next);
%%   `stream' is a byte stream.</li>
%% <li>`{packet, raw | 1 | 2 | 4}' (`raw', streams only): a big-endian
%%   length header of 1, 2 or 4 bytes before each packet, as in
%%   `gen_tcp'; messages and `recv/3' give whole packets, without the
%%   header, and `send/2' adds it.</li>
%% <li>`{active, true | false | once | N}' (`false'), as in `gen_tcp'.</li>
%% <li>`{read_size, Bytes}' (65536): the bytes of one read; a datagram
%%   longer than that is cut short by the kernel.</li>
%% <li>`{buffer, Bytes}' (262144): what the handle may hold that the
%%   owner has not taken: the read credit it gives inertd.</li>
%% <li>`{send_queue, Bytes}' (262144): the most bytes of sent data inertd
%%   holds that the fd has not taken yet; `send/2' waits for room.</li>
%% <li>`{packet_size, Bytes}' (1048576): the longest packet; a longer one
%%   ends the handle with `emsgsize'.</li>
%% <li>`{send_timeout, Ms}' (`infinity'): how long `send/2' waits for
%%   room.</li>
%% </ul>
%% `{error, ebadf}' for an `FD' that is not an open fd number, `{error,
%% einval}' for a bad option, `{error, closed}' when inert is not
%% running.
-spec open(non_neg_integer(), [option()]) -> {ok, handle()} | {error, atom()}.
open(FD, Opts) ->
    case {is_integer(FD) andalso FD >= 0 andalso FD =< ?MAX_FD, inert_io_srv:options(Opts)} of
        {false, _} ->
            {error, ebadf};
        {true, error} ->
            {error, einval};
        {true, {ok, O}} ->
            case inert_io_sup:start_handle(self()) of
                {ok, H} ->
                    case call(H, {open, FD, O}) of
                        ok -> {ok, H};
                        {error, _} = Error -> Error
                    end;
                {error, _} = Error ->
                    Error
            end
    end.

%% @doc Write `Data' (iodata): it returns `ok' once every byte is queued
%% in inertd, which writes it in order; it waits while the send queue is
%% full (at most `send_timeout', then `{error, timeout}': with a stream
%% a prefix of `Data' may have been written). `{error, closed}' once the
%% handle has ended, `{error, emsgsize}' for a datagram longer than
%% 60000 bytes or than `send_queue', or a packet too long for its
%% header, `{error, einval}' for what is not iodata. Any process may
%% call it.
-spec send(handle(), iodata()) -> ok | {error, closed | timeout | emsgsize | einval}.
send(H, Data) when is_pid(H) ->
    %% Straight to inertd while the handle's send window has room, else
    %% through the handle's process (inert_io_window).
    case inert_io_window:send(H, Data) of
        queue -> call(H, {send, Data});
        Result -> Result
    end;
send(H, Data) ->
    call(H, {send, Data}).

%% @doc `recv(H, Length, infinity)'.
-spec recv(handle(), non_neg_integer()) -> {ok, binary()} | {error, atom()}.
recv(H, Length) ->
    recv(H, Length, infinity).

%% @doc Take data from a passive handle (`{active, false}'; else
%% `{error, einval}'): a datagram, a packet (`Length' must be 0 then), or
%% for a raw stream exactly `Length' bytes (0: whatever is held, at least
%% one byte; at most 2^30, else `{error, einval}'). `{error, timeout}' after `Timeout' ms (nothing is taken).
%% At the end it returns the last bytes of a raw stream (possibly fewer
%% than `Length'), then `{error, closed}' (end of file or a closed
%% handle) or `{error, Reason}' (a read or write error, or `inertd_down',
%% `emsgsize'), and `{error, closed}' from then on.
-spec recv(handle(), non_neg_integer(), timeout()) -> {ok, binary()} | {error, atom()}.
recv(H, Length, Timeout)
  when is_integer(Length), Length >= 0, Length =< ?MAX_RECV,
       (Timeout =:= infinity orelse (is_integer(Timeout) andalso Timeout >= 0)) ->
    call(H, {recv, Length, Timeout});
recv(_H, _Length, _Timeout) ->
    {error, einval}.

%% @doc Set options: `active' (`{active, N}' adds to the count, as in
%% `gen_tcp'; a count reaching 0 sends `{inert_io_passive, H}'),
%% `packet' (streams), `buffer', `send_timeout'. `{error, einval}' for
%% another option or a bad value, `{error, closed}' for an ended handle.
-spec setopts(handle(), [option()]) -> ok | {error, einval | closed}.
setopts(H, Opts) ->
    call(H, {setopts, Opts}).

%% @doc Make `Pid' the owner: it gets the messages from now on (those
%% sent before stay with the old owner: set `{active, false}' first to
%% hand over cleanly) and the handle closes when it dies. Only the
%% owner may call it (`{error, not_owner}').
-spec controlling_process(handle(), pid()) -> ok | {error, not_owner | closed | einval}.
controlling_process(H, Pid) when is_pid(Pid) ->
    call(H, {controlling_process, Pid});
controlling_process(_H, _Pid) ->
    {error, einval}.

%% @doc Close the handle: sends that returned `ok' are written first (at
%% most 5 s: then what is left is dropped), then inertd closes its fd.
%% Data not taken yet is dropped and the owner gets no more messages.
%% `ok', also for a handle that has ended already.
-spec close(handle()) -> ok.
close(H) ->
    case call(H, close) of
        {error, closed} -> ok;
        Reply -> Reply
    end.

call(H, Req) when is_pid(H) ->
    try
        gen_server:call(H, Req, infinity)
    catch
        exit:_ -> {error, closed}
    end;
call(_H, _Req) ->
    {error, einval}.
