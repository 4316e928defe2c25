%% @doc inertd as an OS process, seen from the VM: the executable, the
%% port that spawns it, the start-up frames (PROTOCOL.md, "Start-up"), the
%% side channel to connect, and the orderly stop.
%%
%% Owns no process and no state: the service (inert_srv) holds the port
%% and the socket and decides when to start, restart or give up. Must
%% not wait for a frame itself (the service takes them as messages, so
%% that a restart blocks no caller).
%%
%% @private
-module(inert_daemon).

-export([open/1, ready/1, hello/2, connect_side/1, close/2, path/0, version/0]).

-define(PROTOCOL_VERSION, 2).
%% Requested send buffer of the side channel (bytes).
-define(SIDE_SNDBUF, 4 * 1024 * 1024).

%% @doc The protocol version this side speaks.
-spec version() -> 2.
version() ->
    ?PROTOCOL_VERSION.

%% @doc Spawn inertd from `Exe' with the VM's OS pid and the application's
%% poller (and `-v' when `inertd_debug' is true), as a port that gets its
%% frames and its exit status.
-spec open(file:filename()) -> {ok, port()} | {error, {inertd, term()}}.
open(Exe) ->
    try open_port({spawn_executable, Exe},
                  [{args, ["-vm-pid", os:getpid(), "-poller", poller() | debug()]}, {packet, 4},
                   binary, exit_status, use_stdio]) of
        Port -> {ok, Port}
    catch
        error:Error -> {error, {inertd, Error}}
    end.

%% @doc The first frame: inertd's OS pid and the path of its side channel.
-spec ready(binary()) -> {ok, non_neg_integer(), string() | binary()} | {error, {bad_ready, term()}}.
ready(Frame) ->
    case decode(Frame) of
        [{ready, ?PROTOCOL_VERSION, OsPid, Path}] -> {ok, OsPid, Path};
        Other -> {error, {bad_ready, Other}}
    end.

%% @doc A frame after ready: `{ok, Logs}' when it has inertd's answer to
%% the hello of `Owner', `{more, Logs}' when it has only log entries
%% (the lines inertd logged while it set up come before hello; see
%% PROTOCOL.md, "Start-up"). `Logs' are the log entries, for the relay.
-spec hello(binary(), pid()) -> {ok | more, [tuple()]} | {error, {bad_hello, term()}}.
hello(Frame, Owner) ->
    case decode(Frame) of
        Entries when is_list(Entries) ->
            case lists:partition(fun is_log/1, Entries) of
                {Logs, [{hello, Owner, ?PROTOCOL_VERSION}]} -> {ok, Logs};
                {Logs, []} -> {more, Logs};
                _ -> {error, {bad_hello, Entries}}
            end;
        Other ->
            {error, {bad_hello, Other}}
    end.

is_log(Entry) ->
    is_tuple(Entry) andalso tuple_size(Entry) > 0 andalso element(1, Entry) =:= log.

decode(Frame) ->
    try
        binary_to_term(Frame, [safe])
    catch
        error:badarg -> undecodable
    end.

%% @doc Connect the side channel at `Path' (a unix seqpacket socket).
-spec connect_side(string() | binary()) -> {ok, socket:socket()} | {error, term()}.
connect_side(Path) ->
    case socket:open(local, seqpacket, default) of
        {ok, Sock} -> connect_side(Sock, Path);
        {error, _} = Error -> Error
    end.

connect_side(Sock, Path) ->
    %% fdsets do not wait for inertd, so many callers can have many
    %% requests in flight: a full send buffer makes them queue in the
    %% socket NIF (EAGAIN, select, retry), which cut the rate of 10
    %% concurrent callers by more than half (BENCHMARKS.md). The kernel
    %% caps this at net.core.wmem_max; best effort.
    _ = socket:setopt(Sock, {socket, sndbuf}, ?SIDE_SNDBUF),
    case socket:connect(Sock, #{family => local, path => Path}) of
        ok ->
            {ok, Sock};
        {error, _} = Error ->
            _ = socket:close(Sock),
            Error
    end.

%% @doc Stop a daemon: close its port (inertd's stdin reaches EOF, its
%% normal way out) and its side channel; either may be `undefined'.
-spec close(port() | undefined, socket:socket() | undefined) -> ok.
close(Port, Sock) ->
    _ = Port =:= undefined orelse port_close_quiet(Port),
    _ = Sock =:= undefined orelse socket:close(Sock),
    ok.

port_close_quiet(Port) ->
    try
        erlang:port_close(Port)
    catch
        error:badarg -> true
    end.

%% The -poller of inertd: the application's `poller' (auto, io_uring,
%% epoll); inertd refuses a value it does not know, and the start fails.
poller() ->
    atom_to_list(application:get_env(inert, poller, auto)).

%% -v when the application's `inertd_debug' is true: inertd also logs a
%% debug line for every request.
debug() ->
    case application:get_env(inert, inertd_debug, false) of
        true -> ["-v"];
        _ -> []
    end.

%% @doc priv/inertd of the application; $INERTD overrides it.
-spec path() -> file:filename().
path() ->
    case os:getenv("INERTD") of
        false ->
            Priv = case code:priv_dir(inert) of
                {error, bad_name} ->
                    filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
                Dir ->
                    Dir
            end,
            filename:join(Priv, "inertd");
        Path ->
            Path
    end.
