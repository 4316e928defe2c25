%% How the modules of the app depend on each other, checked with xref on
%% the compiled app (`ME', the module call graph): no cycles, so each
%% module can be read knowing only the modules below it, and the data
%% with one owner is reached only through it.
-module(inert_modules_tests).

-include_lib("eunit/include/eunit.hrl").

%% The module call graph of the app's ebin (the modules of src/).
module_edges() ->
    {ok, X} = xref:start([{xref_mode, modules}, {warnings, false}]),
    try
        Ebin = filename:dirname(code:which(inert_srv)),
        {ok, _} = xref:add_directory(X, Ebin, [{warnings, false}]),
        {ok, Components} = xref:q(X, "components ME"),
        {ok, Edges} = xref:q(X, "ME"),
        {Components, Edges}
    after
        xref:stop(X)
    end.

no_cycles_between_modules_test() ->
    {Components, _} = module_edges(),
    ?assertEqual([], [lists:sort(C) || C <- Components, length(C) > 1]).

%% The graph the tests read has the modules' calls in it (they would
%% pass on an empty graph too).
the_call_graph_is_read_test() ->
    {_, Edges} = module_edges(),
    ?assert(lists:member({prim_inert, inert_table}, Edges)).

only_inert_table_calls_ets_test() ->
    {_, Edges} = module_edges(),
    ?assertEqual([inert_table], lists:usort([M || {M, ets} <- Edges])).

only_inert_req_and_inert_fdlib_call_sendmsg_test() ->
    %% inert_req:send/4 sends the requests; inert_fdlib:send/4 is fds
    %% over any unix socket.
    {ok, X} = xref:start([{warnings, false}]),
    try
        {ok, _} = xref:add_directory(X, filename:dirname(code:which(inert_srv)),
                                     [{warnings, false}]),
        {ok, Calls} = xref:q(X, "E"),
        ?assertEqual([inert_fdlib, inert_req],
                     lists:usort([M || {{M, _, _}, {socket, sendmsg, _}} <- Calls]))
    after
        xref:stop(X)
    end.
