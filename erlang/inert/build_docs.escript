#!/usr/bin/env escript
%% -*- erlang -*-
%% The documentation of inert, made with edoc from src/*.erl and the
%% edoc_opts of rebar.config:
%%
%%   escript build_docs.escript
%%       what rebar3 runs after compiling inert (post_hooks), wherever it
%%       is built: the EEP-48 doc chunks that h(inert) and iex's `h :inert'
%%       read (code:get_doc/1), written to doc/chunks/ of the directory
%%       whose ebin/ holds the inert just built. It never fails a build:
%%       a problem (no edoc installed, a doc comment edoc cannot read) is
%%       said in one line and no chunk is written.
%%
%%   escript build_docs.escript --strict DIR
%%       `make docs': the chunks in DIR/chunks/ and the HTML pages in DIR/;
%%       any edoc warning, an undocumented exported function or type of a
%%       public module, or an internal module not marked @private fails.
%%
%% A module whose doc says @private is internal: its chunk is `hidden' (the
%% shell and iex say so) and it has no HTML page. Of the others, only the
%% exported functions and types are in the chunks, with the exports seen
%% by the preprocessor without macros (exports under -ifdef(TEST) are not
%% there).
-mode(compile).

-define(PUBLIC, [inert, prim_inert, inert_fd, inert_io]).

main([]) ->
    hook();
main(["--strict", Dir]) ->
    strict(Dir);
main(_) ->
    io:format(standard_error, "usage: build_docs.escript [--strict DIR]~n", []),
    halt(2).

%%--------------------------------------------------------------------
%% The compile hook
%%--------------------------------------------------------------------

hook() ->
    try
        hook_out()
    catch
        C:E -> say("no doc chunks: ~p:~0p", [C, E])
    end,
    halt(0).

hook_out() ->
    case out_dir() of
        {ok, Out} ->
            Dir = filename:join(Out, "doc"),
            case fresh(Dir) of
                true -> ok;
                false -> hook_chunks(Dir)
            end;
        {error, Why} ->
            say("no doc chunks: ~ts", [Why])
    end.

hook_chunks(Dir) ->
    case code:which(edoc) of
        non_existing ->
            say("no doc chunks: edoc is not installed (Debian: erlang-edoc)", []);
        _ ->
            case run(fun() -> chunks(Dir) end) of
                {ok, _Output, []} -> ok;
                {ok, _Output, Problems} -> say("doc chunks: ~ts", [hd(Problems)]);
                {error, Why, _Output} -> say("no doc chunks: ~ts", [Why])
            end
    end.

%% Where rebar3 (or mix through rebar3 bare compile) puts the compiled
%% application (see rebar3's hook environment): mix says so; a _checkouts
%% app is built in the checkouts output directory; the project's own apps
%% in the build directory's lib/; a dependency where it is checked out.
out_dir() ->
    {ok, Here} = file:get_cwd(),
    Out = case os:getenv("REBAR_BARE_COMPILER_OUTPUT_DIR") of
              Mix when is_list(Mix), Mix =/= "" ->
                  Mix;
              _ ->
                  Checkout = filename:join(env("REBAR_CHECKOUTS_DIR"), "inert"),
                  case same_dir(Checkout, Here) of
                      true ->
                          filename:join(env("REBAR_CHECKOUTS_OUT_DIR"), "inert");
                      false ->
                          case under(Here, env("REBAR_DEPS_DIR")) of
                              true -> Here;
                              false -> filename:join([env("REBAR_BUILD_DIR"), "lib", "inert"])
                          end
                  end
          end,
    case filelib:is_regular(filename:join([Out, "ebin", "inert.app"])) of
        true -> {ok, Out};
        false -> {error, io_lib:format("no ebin/inert.app in ~ts", [Out])}
    end.

env(Name) ->
    case os:getenv(Name) of
        false -> "";
        Value -> Value
    end.

same_dir("", _) -> false;
same_dir(A, B) -> real(A) =:= real(B).

under(_, "") -> false;
under(Path, Dir) -> lists:prefix(real(Dir) ++ "/", real(Path) ++ "/").

%% The path with its symbolic links resolved (a _checkouts entry is often
%% a link), or the path itself when it does not exist.
real(Path) ->
    case file:get_cwd() of
        {ok, Cwd} ->
            try
                ok = file:set_cwd(Path),
                {ok, Real} = file:get_cwd(),
                Real
            catch
                error:_ -> filename:absname(Path)
            after
                ok = file:set_cwd(Cwd)
            end
    end.

%% Whether every chunk is newer than every source and this script.
fresh(Dir) ->
    Chunks = [filename:join([Dir, "chunks", atom_to_list(M) ++ ".chunk"]) || M <- modules()],
    Newest = lists:max([filelib:last_modified(F) || F <- ["build_docs.escript", "rebar.config" | sources()]]),
    lists:all(fun(C) ->
                      T = filelib:last_modified(C),
                      T =/= 0 andalso T > Newest
              end, Chunks).

say(Format, Args) ->
    io:format("inert: " ++ Format ++ "~n", Args).

%%--------------------------------------------------------------------
%% make docs
%%--------------------------------------------------------------------

strict(Dir) ->
    Result = run(fun() ->
                         Problems = chunks(filename:join(Dir, ".")),
                         ok = edoc:files(sources(), [{dir, Dir} | edoc_opts()]),
                         Problems
                 end),
    case Result of
        {ok, <<>>, []} ->
            io:format("docs: ~ts/chunks/*.chunk and ~ts/index.html~n", [Dir, Dir]),
            halt(0);
        {ok, Output, Problems} ->
            io:put_chars([Output, [[P, $\n] || P <- Problems]]),
            io:format("docs: failed (edoc output or problems above)~n"),
            halt(1);
        {error, Why, Output} ->
            io:put_chars(Output),
            io:format("docs: failed: ~ts~n", [Why]),
            halt(1)
    end.

%%--------------------------------------------------------------------
%% The chunks
%%--------------------------------------------------------------------

sources() ->
    lists:sort(filelib:wildcard("src/*.erl")).

modules() ->
    [list_to_atom(filename:basename(F, ".erl")) || F <- sources()].

edoc_opts() ->
    {ok, Config} = file:consult("rebar.config"),
    proplists:get_value(edoc_opts, Config, []).

%% Writes Dir/chunks/Mod.chunk for every module (into a new directory,
%% renamed over the old one, so a reader sees all or nothing) and
%% returns what is wrong with the docs (an empty list when nothing is).
chunks(Dir) ->
    Final = filename:join(Dir, "chunks"),
    Tmp = Final ++ ".tmp",
    _ = file:del_dir_r(Tmp),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    Problems = lists:append([module_chunk(F, Tmp) || F <- sources()]),
    _ = file:del_dir_r(Final),
    ok = file:rename(Tmp, Final),
    Problems.

module_chunk(File, Dir) ->
    Mod = list_to_atom(filename:basename(File, ".erl")),
    Opts = [return_entries, private, hidden, {show_private, false},
            {layout, edoc_layout_chunks}, {source, filename:basename(File)}
            | edoc_opts()],
    {Mod, Doc, Entries} = edoc:get_doc(File, Opts),
    Chunk0 = binary_to_term(edoc:layout(Doc, [{entries, Entries} | Opts])),
    {Chunk, Problems} = visible(Mod, Chunk0, exports(File, Opts)),
    Out = filename:join(Dir, atom_to_list(Mod) ++ ".chunk"),
    ok = file:write_file(Out, term_to_binary(Chunk, [compressed])),
    Problems.

%% docs_v1 is {docs_v1, Anno, Language, Format, ModuleDoc, Metadata, Docs}
%% (EEP 48). An internal module is hidden, all of it; in the others only
%% what is exported is there, and each of those must have a doc.
visible(Mod, Chunk, {Funs, Types}) ->
    ModuleDoc = element(5, Chunk),
    Docs = element(7, Chunk),
    Public = lists:member(Mod, ?PUBLIC),
    case ModuleDoc of
        hidden when Public ->
            {Chunk, [io_lib:format("~s is public but its module doc says @private", [Mod])]};
        hidden ->
            {setelement(7, Chunk, [setelement(4, E, hidden) || E <- Docs]), []};
        _ when not Public ->
            {Chunk, [io_lib:format("~s is internal: its module doc must say @private", [Mod])]};
        _ ->
            Kept = [E || {{Kind, Name, Arity}, _, _, _, _} = E <- Docs,
                         lists:member({Name, Arity}, case Kind of
                                                         function -> Funs;
                                                         type -> Types;
                                                         _ -> [{Name, Arity}]
                                                     end)],
            Undocumented = [io_lib:format("~s: ~s ~s/~b has no doc", [Mod, Kind, Name, Arity])
                            || {{Kind, Name, Arity}, _, _, Doc, _} <- Kept,
                               not is_map(Doc) orelse map_size(Doc) =:= 0],
            Empty = [io_lib:format("~s: no module doc", [Mod])
                     || not is_map(ModuleDoc) orelse map_size(ModuleDoc) =:= 0],
            {setelement(7, Chunk, Kept), Empty ++ Undocumented}
    end.

%% The exported functions and types, as the preprocessor (no macros
%% defined) leaves them.
exports(File, Opts) ->
    Includes = proplists:get_value(includes, Opts, []),
    {ok, Forms} = epp:parse_file(File, [{includes, Includes}]),
    {lists:append([L || {attribute, _, export, L} <- Forms]),
     lists:append([L || {attribute, _, export_type, L} <- Forms])}.

%%--------------------------------------------------------------------
%% edoc's output
%%--------------------------------------------------------------------

%% Runs Fun in a process whose output (edoc's reports) is collected:
%% {ok, Output, Result} or {error, Why, Output}.
run(Fun) ->
    Collector = spawn_link(fun() -> collect([]) end),
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() ->
                                       group_leader(Collector, self()),
                                       Self ! {self(), try {ok, Fun()}
                                                       catch C:E:St -> {error, {C, E, St}}
                                                       end}
                               end),
    Result = receive
                 {Pid, R} -> R;
                 {'DOWN', Ref, process, Pid, Why} -> {error, Why}
             end,
    Collector ! {get, self()},
    Output = receive {output, O} -> O end,
    case Result of
        {ok, Value} -> {ok, Output, Value};
        {error, {exit, error, _}} -> {error, "edoc failed", Output};
        {error, {C, E, _St}} -> {error, io_lib:format("~p:~0p", [C, E]), Output};
        {error, Other} -> {error, io_lib:format("~0p", [Other]), Output}
    end.

%% A minimal io server: keeps what is written, answers every request.
collect(Acc) ->
    receive
        {io_request, From, ReplyAs, Req} ->
            From ! {io_reply, ReplyAs, ok},
            collect([Acc | chars(Req)]);
        {get, From} ->
            From ! {output, unicode:characters_to_binary(Acc)}
    end.

chars({put_chars, _Enc, Chars}) -> Chars;
chars({put_chars, Chars}) -> Chars;
chars({put_chars, _Enc, M, F, A}) -> apply(M, F, A);
chars({put_chars, M, F, A}) -> apply(M, F, A);
chars({requests, Reqs}) -> [chars(R) || R <- Reqs];
chars(_) -> [].
