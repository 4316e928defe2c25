%% @doc The original inert (msantos/inert 1.0.5, a C driver inside the
%% VM) as a contender, `native'. Its modules have the same names as this
%% project's (inert, prim_inert), so it runs in a VM of its own: a peer
%% (OTP `peer', connected over its standard io, no distribution) started
%% with the original's ebin and the bench modules on its code path. Every
%% figure is measured in it by the same bench module code as in this VM,
%% with the contender list `[native]' (bench_lib:native/0 tells the code
%% which inert is loaded).
%%
%% bench/run.sh builds the original from its unmodified sources with
%% their build.sh into bench/out/native (outside the repository's
%% sources) and passes its ebin in BENCH_NATIVE_EBIN; when the baseline
%% is not there (a clone without it) or does not build, it passes the
%% reason in BENCH_NATIVE_WHY and the native figures are n/a.
-module(bench_native).

-export([start/0, call/4, stop/1, describe/1]).
-export([count_steals/0, steals/0]).

-export_type([native/0]).

%% A running peer, or why there is none.
-type native() :: {peer, pid(), pos_integer()} | {none, binary()}.

-define(BOOT_MS, 30000).

%% @doc Start the peer VM and the original driver in it.
-spec start() -> native().
start() ->
    case os:getenv("BENCH_NATIVE_EBIN", "") of
        "" ->
            {none, list_to_binary(os:getenv("BENCH_NATIVE_WHY", "baseline not built"))};
        Ebin ->
            BenchEbin = filename:dirname(code:which(?MODULE)),
            {ok, Peer, _Node} = peer:start_link(#{connection => standard_io,
                                                 wait_boot => ?BOOT_MS,
                                                 args => ["-pa", Ebin, "-pa", BenchEbin]}),
            true = peer:call(Peer, bench_lib, native, []),
            ok = peer:call(Peer, ?MODULE, count_steals, []),
            ok = peer:call(Peer, inert, start, []),
            OsPid = list_to_integer(peer:call(Peer, os, getpid, [])),
            ok = bench_lib:own_pid(OsPid),
            {peer, Peer, OsPid}
    end.

%% @doc Apply `M:F(A)' in the peer; `none' when there is no peer. A
%% failure in the peer fails the caller.
-spec call(native(), module(), atom(), [term()]) -> term().
call({none, _}, _M, _F, _A) ->
    none;
call({peer, Peer, _}, M, F, A) ->
    peer:call(Peer, M, F, A, infinity).

%% @doc Stop the peer.
-spec stop(native()) -> ok.
stop({none, _}) ->
    ok;
stop({peer, Peer, _}) ->
    peer:stop(Peer).

%% @doc What the report says about the native contender (with the peer
%% still running: how many steal reports it had).
-spec describe(native()) -> binary().
describe({none, Why}) ->
    <<"n/a (", Why/binary, ")">>;
describe({peer, Peer, _}) ->
    Rev = case os:getenv("BENCH_NATIVE_REV", "") of
        "" -> "";
        R -> " " ++ string:slice(R, 0, 7)
    end,
    Steals = peer:call(Peer, ?MODULE, steals, []),
    unicode:characters_to_binary(
      io_lib:format("msantos/inert 1.0.5~s (C driver), in its own VM (OTP peer; erts reported ~b "
                    "fds selected both by the driver and by the VM's socket or inet code, which "
                    "the original's README warns of)", [Rev, Steals])).

%% @doc In the peer: erts reports every fd that the driver and the VM's
%% own socket or inet code both select ("stealing control of fd"): the
%% original polls in the VM's poll set, on fds that gen_tcp or socket also
%% use (the echo and re-arm servers), as its README warns. Such reports
%% are counted (steals/0) instead of printed; any other is printed.
-spec count_steals() -> ok.
count_steals() ->
    C = counters:new(1, []),
    persistent_term:put({?MODULE, steals}, C),
    logger:add_primary_filter(?MODULE, {fun steal_filter/2, C}).

%% @doc In the peer: the steal reports so far.
-spec steals() -> non_neg_integer().
steals() ->
    counters:get(persistent_term:get({?MODULE, steals}), 1).

steal_filter(#{msg := Msg} = Event, C) ->
    Text = try
               case Msg of
                   {string, S} -> unicode:characters_to_list(S);
                   {report, R} -> io_lib:format("~p", [R]);
                   {Fmt, Args} -> lists:flatten(io_lib:format(Fmt, Args))
               end
           catch
               _:_ -> ""
           end,
    case string:find(Text, "stealing control of fd") of
        nomatch -> Event;
        _ -> counters:add(C, 1, 1), stop
    end.
