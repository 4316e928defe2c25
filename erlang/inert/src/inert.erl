%% @doc fd readiness notifications, compatible with inert 1.0.
%%
%% The service registered as `inert' is started by `start/0' (it is the
%% `inert' application). Every function returns `{error, closed}' when the
%% service is not running; nothing here crashes the caller on bad input.
%%
%% Messages:
%% ```
%% {inert_read, PollId, FD}    % FD is ready for reading
%% {inert_write, PollId, FD}   % FD is ready for writing
%% '''
%%
%% A facade over `prim_inert' with the handle `inert': it owns nothing and
%% must not do more than name the shared service.
-module(inert).

-export([start/0, stop/0]).
-export([fdset/1, fdset/2, fdclr/1, fdclr/2, poll/1, poll/2, poll/3,
         pollid/0, info/0]).

%% @doc Start the inert service (the `inert' application).
-spec start() -> ok | {error, {atom(), term()}}.
start() ->
    case application:ensure_all_started(inert) of
        {ok, _} -> ok;
        {error, _} = Error -> Error
    end.

%% @doc Stop the inert service: inertd exits and closes every fd it held.
-spec stop() -> ok.
stop() ->
    case application:stop(inert) of
        ok -> ok;
        {error, {not_started, inert}} -> ok
    end.

%% @doc The PollId, the second element of every message. It stays the same
%% while the service runs, including across restarts of inertd.
-spec pollid() -> pid() | undefined.
pollid() ->
    whereis(inert).

%% @doc Monitor FD for one read event.
-spec fdset(prim_inert:fd()) -> ok | prim_inert:errno().
fdset(FD) ->
    prim_inert:fdset(inert, FD, read).

%% @doc Monitor FD for one event per direction of the mode
%% (`read | write | read_write' or `[{mode, Mode}]').
-spec fdset(prim_inert:fd(), prim_inert:options()) -> ok | prim_inert:errno().
fdset(FD, Options) ->
    prim_inert:fdset(inert, FD, Options).

%% @doc Clear both directions of FD.
-spec fdclr(prim_inert:fd()) -> ok | prim_inert:errno().
fdclr(FD) ->
    prim_inert:fdclr(inert, FD, read_write).

%% @doc Clear directions of FD.
-spec fdclr(prim_inert:fd(), prim_inert:options()) -> ok | prim_inert:errno().
fdclr(FD, Options) ->
    prim_inert:fdclr(inert, FD, Options).

%% @doc Block until FD is readable.
-spec poll(prim_inert:fd()) -> {ok, read} | {error, timeout} | prim_inert:errno().
poll(FD) ->
    prim_inert:poll(inert, FD, read, infinity).

%% @doc Block until FD is ready for the mode (or proplist with `mode' and
%% `timeout').
-spec poll(prim_inert:fd(), prim_inert:options()) ->
    {ok, read | write} | {error, timeout} | prim_inert:errno().
poll(FD, Options) ->
    prim_inert:poll(inert, FD, Options).

%% @doc Block until FD is ready, at most Timeout milliseconds.
-spec poll(prim_inert:fd(), prim_inert:options(), timeout()) ->
    {ok, read | write} | {error, timeout} | prim_inert:errno().
poll(FD, Mode, Timeout) ->
    prim_inert:poll(inert, FD, Mode, Timeout).

%% @doc Armed fds (with mode, owner and kind), daemon counters and the
%% service's own state, like socket:which_sockets/1 for inert.
-spec info() -> map() | {error, closed}.
info() ->
    prim_inert:info(inert).
