%% @doc Supervisor of the processes of I/O handles (`inert_io_srv'), one
%% per handle, started by `inert_io:open/2'. Children are temporary: a
%% handle that ended (or crashed) is not reopened; its owner learns it
%% from the handle's messages or from calls that return `{error, closed}'.
%
% @private
-module(inert_io_sup).
-behaviour(supervisor).

-export([start_link/0, start_handle/1, init/1]).

%% @doc Start the supervisor, registered as `inert_io_sup' (a child of
%% `inert_sup').
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @doc Start the process of a handle owned by `Owner'; `{error, closed}'
%% when the inert application is not running.
-spec start_handle(pid()) -> {ok, pid()} | {error, closed}.
start_handle(Owner) ->
    try supervisor:start_child(?MODULE, [Owner]) of
        {ok, Pid} -> {ok, Pid};
        _ -> {error, closed}
    catch
        exit:_ -> {error, closed}
    end.

%% @doc The supervisor callback: temporary `inert_io_srv' children.
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    %% The handles' send windows: this process outlives every handle.
    ok = inert_io_window:new_table(),
    Flags = #{strategy => simple_one_for_one, intensity => 10, period => 10},
    Child = #{
        id => inert_io_srv,
        start => {inert_io_srv, start_link, []},
        restart => temporary,
        shutdown => 5000,
        type => worker,
        modules => [inert_io_srv]
    },
    {ok, {Flags, [Child]}}.
