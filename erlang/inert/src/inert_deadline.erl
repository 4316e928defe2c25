%% @doc Deadlines in monotonic milliseconds, for waits that may be longer
%% than one `receive ... after' (or socket or gen_server call) can take.
%%
%% Owns nothing; pure functions of the clock. Must not wait itself.
%%
%% @private
-module(inert_deadline).

-export([at/1, left/1, chunk/1]).

-export_type([deadline/0]).

-type deadline() :: integer() | infinity.

%% The longest a `receive ... after' (and a socket or gen_server call)
%% waits at once: longer timeouts are waited in chunks of it.
-define(MAX_WAIT, 16#ffffffff).

%% @doc The deadline `Timeout' ms from now.
-spec at(timeout()) -> deadline().
at(infinity) ->
    infinity;
at(Timeout) ->
    erlang:monotonic_time(millisecond) + Timeout.

%% @doc What is left until `Deadline' (`0' once it has passed).
-spec left(deadline()) -> timeout().
left(infinity) ->
    infinity;
left(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

%% @doc What is left until `Deadline', at most what one wait can take.
-spec chunk(deadline()) -> timeout().
chunk(infinity) ->
    infinity;
chunk(Deadline) ->
    min(left(Deadline), ?MAX_WAIT).
