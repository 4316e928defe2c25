%% @doc Supervisor of the shared inert service (registered as `inert').
%%
%% The service restarts inertd itself when the daemon dies, so its pid, the
%% PollId, survives daemon restarts; the supervisor only restarts the
%% service when the service process itself fails. It must not know about
%% inertd.
%%
%% It also supervises inert_io_sup, the supervisor of the I/O handles'
%% processes.
%%
%% @private
-module(inert_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => 5, period => 10},
    Child = #{
        id => inert,
        start => {inert_srv, start_link, [{local, inert}, service]},
        restart => permanent,
        shutdown => 5000,
        type => worker,
        modules => [inert_srv]
    },
    %% The processes of I/O handles (inert_io): after the service,
    %% which they use.
    IO = #{
        id => inert_io_sup,
        start => {inert_io_sup, start_link, []},
        restart => permanent,
        shutdown => infinity,
        type => supervisor,
        modules => [inert_io_sup]
    },
    {ok, {Flags, [Child, IO]}}.
