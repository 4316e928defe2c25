%% The modules of the app call each other without cycles: each one can
%% be read knowing only the modules below it. Checked with xref on the
%% compiled app: the strongly connected components of the module call
%% graph (`components ME') are single modules.
-module(inert_modules_tests).

-include_lib("eunit/include/eunit.hrl").

no_cycles_between_modules_test() ->
    {ok, X} = xref:start([{xref_mode, modules}, {warnings, false}]),
    try
        Ebin = filename:dirname(code:which(inert_srv)),
        {ok, _} = xref:add_directory(X, Ebin, [{warnings, false}]),
        {ok, Components} = xref:q(X, "components ME"),
        ?assertEqual([], [lists:sort(C) || C <- Components, length(C) > 1])
    after
        xref:stop(X)
    end.

%% The graph the test reads has the modules' calls in it (a test that
%% could not fail would pass on an empty graph too).
the_call_graph_is_read_test() ->
    {ok, X} = xref:start([{xref_mode, modules}, {warnings, false}]),
    try
        {ok, _} = xref:add_directory(X, filename:dirname(code:which(inert_srv)),
                                     [{warnings, false}]),
        {ok, Edges} = xref:q(X, "ME"),
        ?assert(lists:member({prim_inert, inert_table}, Edges))
    after
        xref:stop(X)
    end.
