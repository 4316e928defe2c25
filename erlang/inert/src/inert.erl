%% @doc File descriptor readiness for Erlang processes: the API of
%% msantos/inert 1.0, with the polling done outside the VM by `inertd', a
%% daemon the application runs as a port.
%%
%% A process holding a raw fd (from `inet:getfd/1',
%% `socket:getopt(S, otp, fd)', procket, a serial line, a TUN/TAP device,
%% `inert_fd') asks to be told when it is ready, with a message or
%% by blocking:
%%
%% ```
%% {ok, S} = gen_udp:open(0, [binary, {active, false}]),
%% {ok, FD} = inet:getfd(S),
%% ok = inert:fdset(FD),                      % one-shot: arm again after each message
%% receive
%%     {inert_read, _PollId, FD} -> gen_udp:recv(S, 0, 0)
%% end,
%% {ok, write} = inert:poll(FD, write, 1000). % or block, at most 1000 ms
%% '''
%%
%% The functions here use the shared service, registered as `inert' (the
%% `inert' application, started by `start/0' or as a dependency of yours);
%% `prim_inert' has the same on a service of your own.
%%
%% == Messages ==
%%
%% `fdset/1,2' sends one message per direction asked, the first time the
%% fd is ready in it; that direction is then disarmed:
%%
%% ```
%% {inert_read, PollId, FD}     % FD is ready for reading
%% {inert_write, PollId, FD}    % FD is ready for writing
%% '''
%% `PollId' is `pollid()'. An fd that cannot be waited on (a regular
%% file, a directory) is always ready, as poll(2) says.
%%
%% == Errors ==
%%
%% No function crashes the caller, whatever its arguments:
%%
%% <ul>
%% <li>`{error, ebadf}': `FD' is not an integer from 0 to 16#7fffffff, or
%% not open in the VM.</li>
%% <li>`{error, einval}': a bad mode, option or timeout.</li>
%% <li>`{error, ebusy}': another live process has `FD' armed.</li>
%% <li>`{error, closed}': the service is not running.</li>
%% <li>`{error, timeout}': `poll' waited its timeout.</li>
%% <li>`{error, ecanceled}': an `fdclr' ended the `poll'.</li>
%% <li>`{error, eagain}': `fdset' could not hand the request to `inertd'
%% for 2 s (it is not reading); nothing is armed, call it again.</li>
%% <li>`{error, emfile}' or another errno: `inertd' could not arm the fd.
%% `poll' returns it; `fdset' has returned `ok', so the fd is reported
%% ready and the next `fdset' or `poll' of it returns the reason.</li>
%% </ul>
%%
%% If `inertd' dies it is restarted and every armed fd is armed again:
%% callers see a delay, not a lost message.
-module(inert).

%% A facade over prim_inert with the handle `inert': it owns nothing and
%% must not do more than name the shared service.

-export([start/0, stop/0]).
-export([fdset/1, fdset/2, fdclr/1, fdclr/2, poll/1, poll/2, poll/3,
         pollid/0, info/0]).

%% @doc Start the shared service: the `inert' application and what it
%% needs. `ok' also when it runs already.
-spec start() -> ok | {error, {atom(), term()}}.
start() ->
    case application:ensure_all_started(inert) of
        {ok, _} -> ok;
        {error, _} = Error -> Error
    end.

%% @doc Stop the shared service: `inertd' exits and closes every fd it
%% held. `ok' also when it was not running.
-spec stop() -> ok.
stop() ->
    case application:stop(inert) of
        ok -> ok;
        {error, {not_started, inert}} -> ok
    end.

%% @doc The PollId, the second element of every message: the pid of the
%% service, or `undefined' when it is not running. It stays the same while
%% the service runs, across restarts of `inertd' too.
-spec pollid() -> pid() | undefined.
pollid() ->
    whereis(inert).

%% @doc Arm a one-shot read interest: one `{inert_read, PollId, FD}'
%% message when `FD' is readable. Returns at once, without waiting for
%% `inertd'.
%% @equiv fdset(FD, read)
-spec fdset(prim_inert:fd()) -> ok | prim_inert:errno().
fdset(FD) ->
    prim_inert:fdset(inert, FD, read).

%% @doc Arm a one-shot interest in the directions of `Options' (`read',
%% `write', `read_write' or `[{mode, Mode}]'): one `{inert_read, PollId,
%% FD}' and/or `{inert_write, PollId, FD}' message, each the first time
%% `FD' is ready that way. A second `fdset' by the same process replaces
%% the mode; an fd armed by another live process gives `{error, ebusy}'.
%% Returns once the request is on its way to `inertd'.
-spec fdset(prim_inert:fd(), prim_inert:options()) -> ok | prim_inert:errno().
fdset(FD, Options) ->
    prim_inert:fdset(inert, FD, Options).

%% @doc Clear both directions of `FD', whoever armed them.
%% @equiv fdclr(FD, read_write)
-spec fdclr(prim_inert:fd()) -> ok | prim_inert:errno().
fdclr(FD) ->
    prim_inert:fdclr(inert, FD, read_write).

%% @doc Clear the directions of `Options' of `FD', whoever armed them. A
%% `poll' waiting in one of them returns `{error, ecanceled}'. `ok' for an
%% fd already closed in the VM too.
-spec fdclr(prim_inert:fd(), prim_inert:options()) -> ok | prim_inert:errno().
fdclr(FD, Options) ->
    prim_inert:fdclr(inert, FD, Options).

%% @doc Block until `FD' is readable, without a timeout.
%% @equiv poll(FD, read, infinity)
-spec poll(prim_inert:fd()) -> {ok, read} | {error, timeout} | prim_inert:errno().
poll(FD) ->
    prim_inert:poll(inert, FD, read, infinity).

%% @doc Block until `FD' is ready in the mode of `Options': a mode, or a
%% list of `{mode, Mode}' and `{timeout, Timeout}' (default `read',
%% `infinity').
-spec poll(prim_inert:fd(), prim_inert:options()) ->
    {ok, read | write} | {error, timeout} | prim_inert:errno().
poll(FD, Options) ->
    prim_inert:poll(inert, FD, Options).

%% @doc Block until `FD' is ready in `Mode', at most `Timeout' ms (or
%% `infinity'), and return the ready direction, or `{error, timeout}'.
%% However it returns, it leaves nothing armed and no message behind; the
%% timeout holds while `inertd' restarts too.
-spec poll(prim_inert:fd(), prim_inert:options(), timeout()) ->
    {ok, read | write} | {error, timeout} | prim_inert:errno().
poll(FD, Mode, Timeout) ->
    prim_inert:poll(inert, FD, Mode, Timeout).

%% @doc What the service holds, for inspection: the armed fds
%% (`armed => [{FD, Mode, OwnerPid, fdset | poll}]'), `inertd''s poller,
%% OS pid and counters, and the service's own state (`service => #{daemon
%% => up | starting | rearming | down, restarts => N, ...}'). While no
%% `inertd' runs, only what the VM knows.
-spec info() -> map() | {error, closed}.
info() ->
    prim_inert:info(inert).
