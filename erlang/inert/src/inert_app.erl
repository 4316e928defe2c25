%% @doc The inert application: supervises the shared service `inert'.
%% Owns the one change it makes to the node's logger configuration: a
%% filter on OTP's `default' handler that lets the events of domain
%% `[inert]' through (that handler drops every domain but `[otp]'
%% otherwise, so inertd's warnings would be printed nowhere). Levels
%% still apply; `{inert, [{default_handler_filter, false}]}' leaves the
%% handler alone.
%%
%% @private
-module(inert_app).
-behaviour(application).

-export([start/2, stop/1]).

%% The filter's id on the default handler.
-define(FILTER, inert_domain).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    ok = show_on_default_handler(application:get_env(inert, default_handler_filter, true)),
    inert_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    _ = logger:remove_handler_filter(default, ?FILTER),
    ok.

show_on_default_handler(false) ->
    ok;
show_on_default_handler(_) ->
    Filter = {fun logger_filters:domain/2, {log, sub, [inert]}},
    case logger:add_handler_filter(default, ?FILTER, Filter) of
        ok -> ok;
        {error, {already_exist, ?FILTER}} -> ok;
        {error, {not_found, default}} -> ok      % no default handler: nothing to do
    end.
