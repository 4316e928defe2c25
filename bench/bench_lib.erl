%% @doc Helpers shared by the bench modules: UDP sockets on 127.0.0.1,
%% clocks, percentiles, /proc counters of inertd and of the VM, and the
%% raw-sample files the plot reads.
-module(bench_lib).

-export([now_ns/0, udp/0, udp_many/1, gen_udp/0, gen_udp_many/1, udp_dups/2, sender/0,
         addr/1, fd/1,
         close_all/1, drain/1, percentiles/2, median/1, rate/2,
         inertd_pid/0, wait_disarmed/1, proc_status/1, cpu_ns/1, fd_limit/0,
         open_fds/0, write_cdf/2, us/1, background_cpu/1, others_cpu/1,
         native/0, restart_inert/1, own_pid/1]).

-define(LOOPBACK, #{family => inet, addr => {127, 0, 0, 1}, port => 0}).
%% How long udp/0 waits for a free ephemeral port.
-define(PORT_WAIT_MS, 10000).

%% @doc Monotonic clock in nanoseconds.
-spec now_ns() -> integer().
now_ns() ->
    erlang:monotonic_time(nanosecond).

%% @doc A non-blocking UDP `socket' bound to 127.0.0.1 on a free port.
%% The machine is shared: when other processes hold every ephemeral port
%% for a moment (`eaddrinuse'), try again for up to ?PORT_WAIT_MS.
-spec udp() -> socket:socket().
udp() ->
    {ok, S} = socket:open(inet, dgram, udp),
    case with_free_port(fun() -> socket:bind(S, ?LOOPBACK) end) of
        ok -> S;
        {error, _} = Error -> _ = socket:close(S), error({udp_bind, Error})
    end.

%% @doc `N' bound UDP sockets.
-spec udp_many(non_neg_integer()) -> [socket:socket()].
udp_many(N) ->
    [udp() || _ <- lists:seq(1, N)].

%% @doc A passive gen_udp port on 127.0.0.1 on a free port (see udp/0).
-spec gen_udp() -> port().
gen_udp() ->
    Open = fun() -> gen_udp:open(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]) end,
    case with_free_port(Open) of
        {ok, P} -> P;
        {error, _} = Error -> error({gen_udp_open, Error})
    end.

%% @doc `N' gen_udp ports.
-spec gen_udp_many(non_neg_integer()) -> [port()].
gen_udp_many(N) ->
    [gen_udp() || _ <- lists:seq(1, N)].

with_free_port(F) ->
    with_free_port(F, erlang:monotonic_time(millisecond) + ?PORT_WAIT_MS).

with_free_port(F, Deadline) ->
    case F() of
        {error, eaddrinuse} = Error ->
            case erlang:monotonic_time(millisecond) < Deadline of
                true -> timer:sleep(10), with_free_port(F, Deadline);
                false -> Error
            end;
        Other ->
            Other
    end.

%% @doc `N' sockets that are duplicates (dup(2)) of `S': distinct fds on
%% one file, so one datagram makes all of them readable at once.
-spec udp_dups(socket:socket(), non_neg_integer()) -> [socket:socket()].
udp_dups(S, N) ->
    Fd = fd(S),
    [begin {ok, D} = socket:open(Fd, #{dup => true}), D end
     || _ <- lists:seq(1, N)].

%% @doc The unbound UDP socket every contender's datagrams come from.
-spec sender() -> socket:socket().
sender() ->
    {ok, S} = socket:open(inet, dgram, udp),
    S.

%% @doc Where a bound socket (or a gen_udp port) receives.
-spec addr(socket:socket() | port()) -> map().
addr(P) when is_port(P) ->
    {ok, {Ip, Port}} = inet:sockname(P),
    #{family => inet, addr => Ip, port => Port};
addr(S) ->
    {ok, A} = socket:sockname(S),
    A.

%% @doc The OS fd of a `socket'.
-spec fd(socket:socket()) -> non_neg_integer().
fd(S) ->
    {ok, Fd} = socket:getopt(S, otp, fd),
    Fd.

%% @doc Close sockets and gen_udp ports.
-spec close_all([socket:socket() | port()]) -> ok.
close_all(L) ->
    lists:foreach(fun(P) when is_port(P) -> gen_udp:close(P);
                     (S) -> socket:close(S)
                  end, L).

%% @doc Read every datagram pending on `S' (never blocks).
-spec drain(socket:socket()) -> non_neg_integer().
drain(S) ->
    drain(S, 0).

drain(S, N) ->
    case socket:recv(S, 0, 0) of
        {ok, _} -> drain(S, N + 1);
        {error, _} -> N
    end.

%% @doc Percentiles (nearest rank) of a list of numbers.
-spec percentiles([number()], [number()]) -> [number()].
percentiles([], Ps) ->
    [0 || _ <- Ps];
percentiles(L, Ps) ->
    T = list_to_tuple(lists:sort(L)),
    N = tuple_size(T),
    [element(max(1, min(N, ceil(P / 100 * N))), T) || P <- Ps].

%% @doc The median of a non-empty list.
-spec median([number()]) -> number().
median(L) ->
    [M] = percentiles(L, [50]),
    M.

%% @doc Events per second for `N' events in `Ns' nanoseconds.
-spec rate(non_neg_integer(), pos_integer()) -> float().
rate(N, Ns) ->
    N * 1.0e9 / max(1, Ns).

%% @doc inertd's OS pid, from `inert:info()'; `none' in the VM of the
%% original driver (bench_native), which has no daemon.
-spec inertd_pid() -> pos_integer() | none.
inertd_pid() ->
    case native() of
        true ->
            none;
        false ->
            #{os_pid := P} = inert:info(),
            P
    end.

%% @doc Whether the `inert' loaded in this VM is the original C driver
%% (msantos/inert 1.0.5, run by bench_native): it has no `info/0'.
-spec native() -> boolean().
native() ->
    {module, inert} = code:ensure_loaded(inert),
    not erlang:function_exported(inert, info, 0).

%% @doc Stop the inert service and start it again with inertd's
%% `-poller' set to `Poller' (`auto', `io_uring', `epoll'): a fresh
%% daemon. The CPU time of the daemon that goes is kept for others_cpu/1.
-spec restart_inert(atom()) -> ok.
restart_inert(Poller) ->
    Old = cpu_ns(inertd_pid()),
    ok = inert:stop(),
    persistent_term:put({?MODULE, retired_cpu}, retired_cpu() + Old),
    ok = application:set_env(inert, poller, Poller),
    ok = inert:start().

%% @doc Count the CPU time of another OS process of this run (the VM of
%% the original driver) as this run's own in others_cpu/1.
-spec own_pid(pos_integer()) -> ok.
own_pid(OsPid) ->
    persistent_term:put({?MODULE, own_pids}, [OsPid | own_pids()]).

own_pids() ->
    persistent_term:get({?MODULE, own_pids}, []).

retired_cpu() ->
    persistent_term:get({?MODULE, retired_cpu}, 0).

%% @doc Wait until inertd holds fewer than `Max'+1 interests (after a
%% holder process exited, inert_srv tells inertd to clear them). The
%% original driver clears an interest when it is asked (fdclr) or when
%% its holder's exit reaches it: nothing to wait for.
-spec wait_disarmed(non_neg_integer()) -> ok.
wait_disarmed(Max) ->
    case native() of
        true -> ok;
        false -> wait_disarmed1(Max)
    end.

wait_disarmed1(Max) ->
    #{counters := #{armed := A}} = inert:info(),
    case A =< Max of
        true -> ok;
        false -> timer:sleep(10), wait_disarmed1(Max)
    end.

%% @doc VmRSS and VmHWM (bytes) of a process, the slots of its fd table
%% (FDSize) and its context switches summed over its threads.
-spec proc_status(pos_integer() | self | none) -> map().
proc_status(none) ->
    #{rss => 0, hwm => 0, fd_table => 0, threads => 0, ctxt_switches => 0};
proc_status(Pid) ->
    Dir = "/proc/" ++ pid_dir(Pid),
    Main = status_kv(Dir ++ "/status"),
    Tasks = filelib:wildcard(Dir ++ "/task/*/status"),
    Sw = lists:sum([maps:get("voluntary_ctxt_switches", KV, 0) +
                    maps:get("nonvoluntary_ctxt_switches", KV, 0)
                    || KV <- [status_kv(F) || F <- Tasks]]),
    #{rss => maps:get("VmRSS", Main, 0) * 1024,
      hwm => maps:get("VmHWM", Main, 0) * 1024,
      fd_table => maps:get("FDSize", Main, 0),
      threads => length(Tasks),
      ctxt_switches => Sw}.

%% @doc CPU time (ns) a process has used, summed over its threads
%% (/proc/PID/task/*/schedstat, first field).
-spec cpu_ns(pos_integer() | self | none) -> non_neg_integer().
cpu_ns(none) ->
    0;
cpu_ns(Pid) ->
    Files = filelib:wildcard("/proc/" ++ pid_dir(Pid) ++ "/task/*/schedstat"),
    lists:sum([case file:read_file(F) of
                   {ok, B} -> binary_to_integer(hd(binary:split(B, <<" ">>)));
                   _ -> 0
               end || F <- Files]).

%% @doc The VM's soft RLIMIT_NOFILE (inherited by inertd).
-spec fd_limit() -> pos_integer().
fd_limit() ->
    list_to_integer(string:trim(os:cmd("ulimit -n"))).

%% @doc How many fds the VM has open.
-spec open_fds() -> non_neg_integer().
open_fds() ->
    {ok, L} = file:list_dir("/proc/self/fd"),
    length(L).

%% @doc Write samples (ns) as "microseconds cumulative-fraction" lines,
%% sorted: the CDF the gnuplot script draws.
-spec write_cdf(file:filename(), [integer()]) -> ok.
write_cdf(File, Samples) ->
    Sorted = lists:sort(Samples),
    N = length(Sorted),
    {Lines, _} = lists:mapfoldl(
                   fun(S, I) ->
                           {io_lib:format("~.3f ~.6f~n", [S / 1000, I / N]), I + 1}
                   end, 1, Sorted),
    ok = file:write_file(File, Lines).

%% @doc The share of the machine's CPU time (0.0 - 1.0, all CPUs) that
%% was busy during `Ms' milliseconds in which this run does nothing: what
%% other processes take, i.e. how noisy the machine is (/proc/stat).
-spec background_cpu(pos_integer()) -> float().
background_cpu(Ms) ->
    {Busy0, Total0} = cpu_jiffies(),
    timer:sleep(Ms),
    {Busy1, Total1} = cpu_jiffies(),
    (Busy1 - Busy0) / max(1, Total1 - Total0).

%% @doc `others_cpu(start)' marks the machine's busy time and this run's
%% CPU time (the VM, the current inertd, the daemons restart_inert/1
%% replaced, the VM of the original driver); `others_cpu(Mark)' returns
%% the share (0.0 - 1.0 of all CPUs) that other processes used since.
-spec others_cpu(start | tuple()) -> tuple() | float().
others_cpu(start) ->
    {Busy, Total} = cpu_jiffies(),
    {Busy, Total, own_cpu_ns()};
others_cpu({Busy0, Total0, Own0}) ->
    {Busy1, Total1} = cpu_jiffies(),
    Tick = 1.0e9 / 100,                         % USER_HZ
    Others = (Busy1 - Busy0) * Tick - (own_cpu_ns() - Own0),
    max(0.0, Others / max(1, (Total1 - Total0) * Tick)).

own_cpu_ns() ->
    Daemon = try inertd_pid() catch _:_ -> none end,
    cpu_ns(self) + cpu_ns(Daemon) + retired_cpu() + lists:sum([cpu_ns(P) || P <- own_pids()]).

cpu_jiffies() ->
    {ok, B} = file:read_file("/proc/stat"),
    [Line | _] = binary:split(B, <<"\n">>),
    [_ | Fields] = string:lexemes(binary_to_list(Line), " "),
    Nums = [list_to_integer(F) || F <- Fields],
    Idle = lists:nth(4, Nums) + lists:nth(5, Nums),
    Total = lists:sum(lists:sublist(Nums, 8)),
    {Total - Idle, Total}.

%% @doc Nanoseconds to microseconds.
-spec us(number()) -> float().
us(Ns) ->
    Ns / 1000.

pid_dir(self) -> "self";
pid_dir(P) -> integer_to_list(P).

status_kv(File) ->
    case file:read_file(File) of
        {ok, B} ->
            maps:from_list(
              [{binary_to_list(K), first_int(V)}
               || Line <- binary:split(B, <<"\n">>, [global]),
                  [K, V] <- [binary:split(Line, <<":">>)]]);
        {error, _} ->
            #{}
    end.

first_int(V) ->
    case string:to_integer(string:trim(binary_to_list(V))) of
        {I, _} when is_integer(I) -> I;
        _ -> 0
    end.
