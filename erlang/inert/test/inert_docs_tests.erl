%% EUnit tests of the doc chunks the compile post-hook (build_docs.escript)
%% writes next to the compiled application: what h(inert) and iex's
%% h :inert read through code:get_doc/1 in this build, as in `make shell'.
-module(inert_docs_tests).

-include_lib("eunit/include/eunit.hrl").

-define(PUBLIC, public()).
-define(CONFIG, #{columns => 80, encoding => unicode, ansi => false}).

%% The public modules: build_docs.escript's PUBLIC list, which decides
%% what the docs show (this file is erlang/inert/test/).
public() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    Escript = filename:join(filename:dirname(filename:dirname(Source)), "build_docs.escript"),
    {ok, Bin} = file:read_file(Escript),
    {match, [List]} = re:run(Bin, "-define\\(PUBLIC, (\\[[^]]*\\])\\)\\.",
                             [{capture, all_but_first, list}]),
    {ok, Tokens, _} = erl_scan:string(List ++ "."),
    {ok, Mods} = erl_parse:parse_term(Tokens),
    Mods.

docs(Mod) ->
    {ok, Docs} = code:get_doc(Mod),
    Docs.

entry(Kind, Name, Arity, {docs_v1, _, _, _, _, _, Entries}) ->
    lists:keyfind({Kind, Name, Arity}, 1, Entries).

%% The text of an entry's doc, without its markup.
text(Kind, Name, Arity, Docs) ->
    {_, _, _, #{<<"en">> := Doc}, _} = entry(Kind, Name, Arity, Docs),
    unicode:characters_to_list(flatten(Doc)).

flatten(B) when is_binary(B) -> B;
flatten({_Tag, _Attrs, Content}) -> flatten(Content);
flatten(L) when is_list(L) -> [flatten(E) || E <- L].

%% What the shell's h/1,2 prints, as text. shell_docs asks the group
%% leader for its encoding, which EUnit's io server does not answer: it
%% runs where the group leader is the VM's own (user).
render(Fun) ->
    Self = self(),
    Pid = spawn_link(fun() ->
                             group_leader(whereis(user), self()),
                             Self ! {self(), unicode:characters_to_list(Fun())}
                     end),
    receive {Pid, Text} -> Text end.

contains(Text, Part) ->
    string:find(Text, Part) =/= nomatch.

h_inert_shows_the_messages_and_errors_test() ->
    Text = render(fun() -> shell_docs:render(inert, docs(inert), ?CONFIG) end),
    ?assert(contains(Text, "{inert_read, PollId, FD}")),
    ?assert(contains(Text, "{inert_write, PollId, FD}")),
    ?assert(contains(Text, "{error, ebusy}")).

h_inert_poll_renders_every_arity_test() ->
    Text = render(fun() -> shell_docs:render(inert, poll, docs(inert), ?CONFIG) end),
    ?assertEqual(3, length(string:split(Text, "-spec poll(", all)) - 1),
    ?assert(contains(Text, "at most Timeout ms")).

public_modules_document_their_exports_test_() ->
    [{atom_to_list(M), fun() -> documented(M) end} || M <- ?PUBLIC].

%% Every function in the chunk is exported and has a text, and every
%% export but module_info and what only the test build exports (it is not
%% in the docs) is in the chunk.
documented(Mod) ->
    {docs_v1, _, erlang, _, #{<<"en">> := _}, _, Entries} = docs(Mod),
    Funs = [{F, A} || {{function, F, A}, _, _, _, _} <- Entries],
    Undocumented = [{F, A} || {{function, F, A}, _, _, Doc, _} <- Entries,
                              not (is_map(Doc) andalso map_size(Doc) > 0)],
    Exports = [FA || {F, _} = FA <- Mod:module_info(exports), F =/= module_info],
    ?assertEqual([], Undocumented),
    ?assertEqual([], Funs -- Exports),
    ?assertEqual([], Exports -- (Funs ++ test_only(Mod))).

test_only(prim_inert) -> [{options, 2}, {valid_fd, 1}];
test_only(_) -> [].

test_only_exports_are_not_in_the_docs_test() ->
    ?assert(erlang:function_exported(prim_inert, options, 2)),
    ?assertEqual(false, entry(function, options, 2, docs(prim_inert))).

internal_modules_are_hidden_test_() ->
    ok = case application:load(inert) of
             ok -> ok;
             {error, {already_loaded, inert}} -> ok
         end,
    {ok, Mods} = application:get_key(inert, modules),
    [{atom_to_list(M), ?_assertMatch({docs_v1, _, _, _, hidden, _, _}, docs(M))}
     || M <- Mods -- ?PUBLIC].

%% Each type's description is the one written after it (edoc's rule).
types_have_their_own_descriptions_test_() ->
    [{lists:flatten(io_lib:format("~s:~s/0", [M, T])),
      ?_assert(contains(text(type, T, 0, docs(M)), Part))}
     || {M, T, Part} <- [{prim_inert, handle, "PollId"},
                         {prim_inert, mode, "directions"},
                         {prim_inert, fd, "file descriptor"},
                         {prim_inert, errno, "ecanceled"},
                         {prim_inert, options, "{mode, Mode}"},
                         {inert_fd, fd, "file descriptor"},
                         {inert_fd, spec, "reuseport"},
                         {inert_fd, full_spec, "every key"},
                         {inert_fd, error_reason, "too_many_fds"}]].
