%% @doc A small JSON encoder for the results file (OTP 25 has no json
%% module). Maps and proplists with atom keys become objects, other lists
%% and tuples arrays, binaries strings (UTF-8), `true'/`false'/`null'
%% literals, other atoms, pids and references strings.
-module(bench_json).

-export([encode/1]).

%% @doc The JSON text of a term, indented, with a final newline.
-spec encode(term()) -> binary().
encode(T) ->
    unicode:characters_to_binary([value(T, 0), $\n]).

value(true, _) -> "true";
value(false, _) -> "false";
value(null, _) -> "null";
value(A, _) when is_atom(A) -> string(atom_to_binary(A));
value(I, _) when is_integer(I) -> integer_to_list(I);
value(F, _) when is_float(F) -> float_to_list(F, [{decimals, 6}, compact]);
value(B, _) when is_binary(B) -> string(B);
value(M, D) when is_map(M) -> object(lists:sort(maps:to_list(M)), D);
value([{K, _} | _] = L, D) when is_atom(K) -> object(L, D);
value(L, D) when is_list(L) -> array(L, D);
value(T, D) when is_tuple(T) -> array(tuple_to_list(T), D);
value(Other, _) -> string(list_to_binary(io_lib:format("~p", [Other]))).

object([], _) ->
    "{}";
object(KVs, D) ->
    Pad = pad(D + 1),
    ["{\n",
     lists:join(",\n", [[Pad, string(key(K)), ": ", value(V, D + 1)] || {K, V} <- KVs]),
     "\n", pad(D), "}"].

array([], _) ->
    "[]";
array(L, D) ->
    case lists:all(fun(X) -> is_number(X) end, L) of
        true ->
            ["[", lists:join(", ", [value(X, D) || X <- L]), "]"];
        false ->
            Pad = pad(D + 1),
            ["[\n", lists:join(",\n", [[Pad, value(X, D + 1)] || X <- L]), "\n", pad(D), "]"]
    end.

key(K) when is_atom(K) -> atom_to_binary(K);
key(K) when is_binary(K) -> K;
key(K) when is_integer(K) -> integer_to_binary(K);
key(K) -> list_to_binary(io_lib:format("~p", [K])).

string(B) ->
    [$", [esc(C) || C <- unicode:characters_to_list(B)], $"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc($\n) -> "\\n";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> C.

pad(D) ->
    lists:duplicate(2 * D, $\s).
