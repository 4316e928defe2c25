%% @doc The hand-over of fds from inertd to callers (PROTOCOL.md,
%% "Handing fds to the VM"): inertd sends `{fd, Pid, Ref}' with one fd
%% on the side channel; the service offers the fd to `Pid' and closes it
%% if `Pid' dies before it has taken it.
%%
%% Owns the messages of a hand-over (what inertd sends, the offer to the
%% caller, the caller's acknowledgement) but no state: the service
%% (inert_srv) keeps the offers not taken yet. Every fd a message brings
%% that is not handed over is closed here.
%%
%% @private
-module(inert_handover).

-export([read/1, decode/1, offer/3, taken/1]).

-export_type([handover/0, offer/0]).

-type fd() :: non_neg_integer().
%% What a side channel message hands over: an fd for Pid, or the reason
%% Pid gets none.
-type handover() :: {fd, pid(), term(), fd()} | {error, pid(), term(), einval | emfile}.
%% Why a message handed nothing over: its payload was another term, or
%% none.
-type dropped() :: {unexpected, term()} | undecodable.
%% What the caller receives as its answer: {fd, Service, Token, FD}.
-type offer() :: {fd, pid(), reference(), fd()}.

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
%% but the one returned is closed: a message that is not {fd, Pid, Ref}
%% with exactly one fd keeps none.
-spec decode(socket:msg_recv()) -> {ok, handover()} | {dropped, dropped()}.
decode(#{iov := IOV, flags := Flags} = Msg) ->
    Taken = inert_fdlib:take(Msg, 1),
    try binary_to_term(iolist_to_binary(IOV), [safe]) of
        {fd, Pid, Ref} when is_pid(Pid) ->
            case Taken of
                {ok, _, [FD]} ->
                    {ok, {fd, Pid, Ref, FD}};
                {ok, _, FDs} ->
                    _ = [inert_fdlib:close(FD) || FD <- FDs],
                    {ok, {error, Pid, Ref, einval}};
                {error, _} ->
                    case lists:member(ctrunc, Flags) of
                        %% Control data cut short: the VM is at its fd limit.
                        true -> {ok, {error, Pid, Ref, emfile}};
                        false -> {ok, {error, Pid, Ref, einval}}
                    end
            end;
        Other ->
            _ = closed_all(Taken),
            {dropped, {unexpected, Other}}
    catch
        error:badarg ->
            _ = closed_all(Taken),
            {dropped, undecodable}
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

%% @doc The caller has the fd of `Offer': it is its own from now on.
-spec taken(offer()) -> ok.
taken({fd, Srv, Token, _FD}) ->
    gen_server:cast(Srv, {taken, Token}).
