%% @doc The hand-over of fds from inertd to callers (PROTOCOL.md,
%% "Handing fds to the VM"): inertd sends `{fd, Pid, Ref}' with one fd
%% on the side channel (`{fd, Pid, Ref, Info}' for a device: one fd, or
%% two for a pty); the service offers the fds to `Pid' and closes them if
%% `Pid' dies before it has taken them.
%%
%% Owns the messages of a hand-over (what inertd sends, the offer to the
%% caller, the caller's acknowledgement) but no state: the service
%% (inert_srv) keeps the offers not taken yet. Every fd a message brings
%% that is not handed over is closed here.
%%
%% @private
-module(inert_handover).

-export([read/1, decode/1, offer/3, offer/4, taken/1, fds/1, info_keys/0]).

-export_type([handover/0, offer/0, info/0]).

-type fd() :: non_neg_integer().
%% What inertd says of a device it opened: `name' (tun, tap: the
%% interface), `path' and `peer' (pty: the peer's path and fd).
-type info() :: #{name => binary(), path => binary(), peer => fd()}.
%% What a side channel message hands over: an fd (and what inertd said of
%% it) for Pid, or the reason Pid gets none.
-type handover() :: {fd, pid(), term(), fd()} | {fd, pid(), term(), fd(), info()}
                  | {error, pid(), term(), einval | emfile}.
%% Why a message handed nothing over: its payload was another term, or
%% none.
-type dropped() :: {unexpected, term()} | undecodable.
%% What the caller receives as its answer: {fd, Service, Token, FD}, or
%% {fd, Service, Token, FD, Info} for a device.
-type offer() :: {fd, pid(), reference(), fd()} | {fd, pid(), reference(), fd(), info()}.

%% @doc The keys of a handover's `Info'. Listing them here puts them in
%% the atom table when this module loads, so that handovers decode with
%% binary_to_term(_, [safe]).
-spec info_keys() -> [name | path | peer, ...].
info_keys() ->
    [name, path, peer].

%% @doc Read one message of the side channel `Sock', without waiting:
%% `select' when none is there (a select message follows), `eof' when
%% inertd closed it, `{dropped, Why}' for a message that hands nothing
%% over (its fds are closed).
-spec read(socket:socket()) ->
    {ok, handover()} | {dropped, dropped()} | select | eof | {error, atom() | {invalid, term()}}.
read(Sock) ->
    case socket:recvmsg(Sock, 0, 0, [], nowait) of
        {ok, Msg} ->
            case iolist_size(maps:get(iov, Msg, [])) + length(maps:get(ctrl, Msg, [])) of
                0 -> eof;
                _ -> decode(Msg)
            end;
        {select, _} ->
            select;
        {error, _} = Error ->
            Error
    end.

%% @doc What a side channel message hands over. Every fd of the message
%% but those returned is closed: a message that is not {fd, Pid, Ref} with
%% exactly one fd, or {fd, Pid, Ref, Info} with one fd (two when Info has
%% `peer => true'), keeps none.
-spec decode(socket:msg_recv()) -> {ok, handover()} | {dropped, dropped()}.
decode(#{iov := IOV, flags := Flags} = Msg) ->
    Taken = inert_fdlib:take(Msg, 2),
    try binary_to_term(iolist_to_binary(IOV), [safe]) of
        {fd, Pid, Ref} when is_pid(Pid) ->
            handed(Taken, 1, Flags, Pid, Ref, fun([FD]) -> {fd, Pid, Ref, FD} end);
        {fd, Pid, Ref, #{} = Info} when is_pid(Pid) ->
            case maps:get(peer, Info, false) of
                true ->
                    handed(Taken, 2, Flags, Pid, Ref,
                           fun([FD, Peer]) -> {fd, Pid, Ref, FD, Info#{peer := Peer}} end);
                false ->
                    handed(Taken, 1, Flags, Pid, Ref, fun([FD]) -> {fd, Pid, Ref, FD, Info} end)
            end;
        Other ->
            _ = closed_all(Taken),
            {dropped, {unexpected, Other}}
    catch
        error:badarg ->
            _ = closed_all(Taken),
            {dropped, undecodable}
    end.

%% The handover of exactly N fds, or the error Pid gets (every fd closed).
handed({ok, _, FDs}, N, _Flags, _Pid, _Ref, Make) when length(FDs) =:= N ->
    {ok, Make(FDs)};
handed({ok, _, FDs}, _N, _Flags, Pid, Ref, _Make) ->
    _ = [inert_fdlib:close(FD) || FD <- FDs],
    {ok, {error, Pid, Ref, einval}};
handed({error, _}, _N, Flags, Pid, Ref, _Make) ->
    case lists:member(ctrunc, Flags) of
        %% Control data cut short: the VM is at its fd limit.
        true -> {ok, {error, Pid, Ref, emfile}};
        false -> {ok, {error, Pid, Ref, einval}}
    end.

closed_all({ok, _, FDs}) -> [inert_fdlib:close(FD) || FD <- FDs];
closed_all({error, _}) -> [].

%% @doc Offer `FD' to `Pid' as the answer `Ref' (from the service
%% process); the token returned is a monitor of `Pid', whose 'DOWN'
%% means the fd was not taken.
-spec offer(pid(), term(), fd()) -> reference().
offer(Pid, Ref, FD) ->
    Token = erlang:monitor(process, Pid),
    Pid ! {Ref, {fd, self(), Token, FD}},
    Token.

%% @doc Offer the fd of a device and what inertd said of it (`Info', with
%% the peer's fd for a pty), as `offer/3' does.
-spec offer(pid(), term(), fd(), info()) -> reference().
offer(Pid, Ref, FD, Info) ->
    Token = erlang:monitor(process, Pid),
    Pid ! {Ref, {fd, self(), Token, FD, Info}},
    Token.

%% @doc Every fd a handover brings: `FD', and a pty's peer.
-spec fds({fd, pid(), term(), fd()} | {fd, pid(), term(), fd(), info()}) -> [fd()].
fds({fd, _Pid, _Ref, FD}) -> [FD];
fds({fd, _Pid, _Ref, FD, #{peer := Peer}}) -> [FD, Peer];
fds({fd, _Pid, _Ref, FD, #{}}) -> [FD].

%% @doc The caller has the fds of `Offer': they are its own from now on.
-spec taken(offer()) -> ok.
taken({fd, Srv, Token, _FD}) ->
    gen_server:cast(Srv, {taken, Token});
taken({fd, Srv, Token, _FD, _Info}) ->
    gen_server:cast(Srv, {taken, Token}).
