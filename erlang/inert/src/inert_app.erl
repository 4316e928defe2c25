%% @doc The inert application: supervises the shared service `inert'.
%% Owns nothing; starts the supervisor and nothing else.
%%
%% @private
-module(inert_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    inert_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
