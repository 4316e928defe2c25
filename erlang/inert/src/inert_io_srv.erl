%% @doc The process of one I/O handle (`inert_io'): it holds what inertd
%% has read and the owner has not taken yet (`inert_io_frame'), gives
%% inertd read credit as the owner takes data, delivers messages as the
%% `active' option says, answers `recv/3', hands `send/2' data to inertd
%% within the handle's send window, and ends the handle exactly once.
%%
%% Why a process per handle: the credit, the buffer and the active
%% count change with every entry from inertd and every call of the
%% owner, and a process serialises both without a table shared between
%% them; the entries come through the service process (inert_relay sends
%% `{'$inert_io', Ref, What}' here). It is supervised by inert_io_sup
%% (temporary: a handle that died is not reopened, its owner is told by
%% the monitor it holds or by the calls that fail).
%%
%% It monitors its owner (owner dies: the handle is closed), the service
%% (gone: the handle ends `closed') and the daemon's port (inertd died:
%% the handle ends `inertd_down' once every entry the old daemon wrote
%% has arrived). It builds requests only through inert_req and sends
%% them only through inert_req:send/4.
%
% @private
-module(inert_io_srv).
-behaviour(gen_server).

-export([start_link/1, options/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([opts/0]).

%% How long one request may wait for room on the side channel before
%% the handle tries again (inertd held back by flow control).
-define(SIDE_WAIT_MS, 1000).
-define(RETRY_MS, 20).
%% How long close/1 waits for queued sends to be written, and open/2 for
%% inertd's answer.
-define(LINGER_MS, 5000).
-define(OPEN_WAIT_MS, 5000).
%% How long the handle waits, after inertd died, for the service to have
%% forwarded every entry of the old daemon.
-define(RESTART_WAIT_MS, 5000).

-type active() :: boolean() | once | integer().
-type recv_tag() :: {reference() | undefined, reference()}.
-type opts() :: #{type := inert_io_frame:type(), packet := inert_io_frame:packet(),
                  active := active(), read_size := pos_integer(),
                  buffer := pos_integer(), send_queue := pos_integer(),
                  packet_size := pos_integer(), send_timeout := timeout()}.

-record(st, {
    owner :: pid(),
    owner_mon :: reference(),
    srv :: pid() | undefined,
    sock :: socket:socket() | undefined,
    port :: port() | undefined,
    port_mon :: reference() | undefined,
    %% the handle's name in inertd, undefined until it is open
    ref :: reference() | undefined,
    o :: opts() | undefined,
    %% false | true | once | N > 0
    active = false :: active(),
    frame :: inert_io_frame:frame() | undefined,
    %% the owner that inertd's data goes to straight from the relay
    %% (inert_io_window's direct route), none while it comes through here
    direct = none :: pid() | none,
    %% callers of recv/3: {From, Length, {TimerRef, MonitorRef}}; a
    %% caller that dies is forgotten, so that no data goes to it
    recvs = queue:new() :: queue:queue({gen_server:from(), non_neg_integer(), recv_tag()}),
    %% the send window shared with the handle's senders and the
    %% service (inert_io_window), and whether its gate is up (every send
    %% through this process)
    window :: inert_io_window:counter() | undefined,
    gated = true :: boolean(),
    %% callers of send/2: {From, BytesLeft, Started, TimerRef}
    senders = queue:new() :: queue:queue({gen_server:from(), binary(), boolean(), reference() | undefined}),
    retry = false :: boolean(),
    %% why the handle ended in inertd (eof, closed, an errno,
    %% inertd_down, emsgsize), undefined while it runs
    ended :: atom() | undefined,
    %% close/1's caller, while queued sends are being written
    closer :: gen_server:from() | undefined,
    close_sent = false :: boolean()
}).

%%--------------------------------------------------------------------
%% API (for inert_io)
%%--------------------------------------------------------------------

%% @doc Start a handle process for `Owner' (inert_io_sup's child).
-spec start_link(pid()) -> {ok, pid()} | {error, term()}.
start_link(Owner) ->
    gen_server:start_link(?MODULE, Owner, []).

%% @doc The options of `inert_io:open/2' with their defaults, or `error'.
-spec options(term()) -> {ok, opts()} | error.
options(Opts) when is_list(Opts) ->
    Defaults = #{type => stream, packet => raw, active => false, read_size => 65536,
                 buffer => 262144, send_queue => 262144, packet_size => 1048576,
                 send_timeout => infinity},
    try
        O = fold(Opts, Defaults),
        case O of
            #{type := datagram, packet := P} when P =/= raw -> error;
            _ -> {ok, O}
        end
    catch
        throw:einval -> error
    end;
options(_) ->
    error.

fold([Opt | Rest], Acc) -> fold(Rest, option(Opt, Acc));
fold([], Acc) -> Acc;
fold(_, _) -> throw(einval).

option({type, T}, O) when T =:= stream; T =:= datagram -> O#{type => T};
option({packet, 0}, O) -> O#{packet => raw};
option({packet, P}, O) when P =:= raw; P =:= 1; P =:= 2; P =:= 4 -> O#{packet => P};
option({active, A}, O) -> valid_active(A) orelse throw(einval), O#{active => A};
option({read_size, N}, O) when is_integer(N), N >= 1, N =< 1048576 -> O#{read_size => N};
option({buffer, N}, O) when is_integer(N), N >= 1, N =< 1 bsl 30 -> O#{buffer => N};
option({send_queue, N}, O) when is_integer(N), N >= 1, N =< 67108864 -> O#{send_queue => N};
option({packet_size, N}, O) when is_integer(N), N >= 1, N =< 1 bsl 30 -> O#{packet_size => N};
option({send_timeout, T}, O) when T =:= infinity; is_integer(T), T >= 0 -> O#{send_timeout => T};
option(_, _) -> throw(einval).

valid_active(A) ->
    is_boolean(A) orelse A =:= once orelse (is_integer(A) andalso A >= -32768 andalso A =< 32767).

%%--------------------------------------------------------------------
%% gen_server callbacks
%%--------------------------------------------------------------------

%% @doc gen_server callback: the handle of `Owner', not open yet (the
%% owner's `{open, FD, Opts}' call opens it).
-spec init(pid()) -> {ok, #st{}}.
init(Owner) ->
    {ok, #st{owner = Owner, owner_mon = erlang:monitor(process, Owner)}}.

%% @doc gen_server callback: the calls of `inert_io'.
-spec handle_call(term(), gen_server:from(), #st{}) ->
    {reply, term(), #st{}} | {noreply, #st{}} | {stop, normal, term(), #st{}} | {stop, normal, #st{}}.
handle_call(Req, From, St) ->
    settle(call(Req, From, St)).

call({open, FD, O}, {Owner, _}, #st{owner = Owner, ref = undefined} = St) ->
    case open(FD, O, St) of
        {ok, St1} -> reply(ok, deliver(St1));
        {error, _} = Error -> {stop, normal, Error, St}
    end;
call(_, _From, #st{ref = undefined} = St) ->
    {reply, {error, einval}, St};
call(_, From, #st{closer = Closer} = St) when Closer =/= undefined ->
    %% A sender that backed out of the window on seeing the gate is
    %% here now, its bytes taken back: count again.
    gen_server:reply(From, {error, closed}),
    step(pump(St));
call({recv, _Length, _Timeout}, _From, #st{active = Active} = St) when Active =/= false ->
    {reply, {error, einval}, St};
call({recv, Length, _Timeout}, _From, #st{o = #{type := stream, packet := P}} = St)
  when P =/= raw, Length =/= 0 ->
    {reply, {error, einval}, St};
call({recv, Length, Timeout}, {Caller, _} = From, #st{recvs = Q} = St) ->
    TRef = case Timeout of
        infinity -> undefined;
        _ -> erlang:start_timer(Timeout, self(), recv_timeout)
    end,
    Tag = {TRef, erlang:monitor(process, Caller)},
    step(deliver(St#st{recvs = queue:in({From, Length, Tag}, Q)}));
call({send, _Data}, _From, #st{ended = Ended} = St) when Ended =/= undefined ->
    {reply, {error, closed}, St};
call({send, Data}, From, #st{o = O, senders = Q} = St) ->
    #{type := Type, packet := Packet, send_queue := SQ} = O,
    case inert_io_frame:out(Data, Type, Packet, SQ) of
        {ok, Bin} ->
            TRef = case maps:get(send_timeout, O) of
                infinity -> undefined;
                T -> erlang:start_timer(T, self(), send_timeout)
            end,
            St1 = gate_up(St),
            step(pump(St1#st{senders = queue:in({From, Bin, false, TRef}, Q)}));
        {error, _} = Error ->
            {reply, Error, St}
    end;
call({setopts, Opts}, _From, St) ->
    case setopts(Opts, St) of
        {ok, St1} -> reply(ok, deliver(St1));
        error -> {reply, {error, einval}, St}
    end;
call({controlling_process, Pid}, {Owner, _}, #st{owner = Owner, owner_mon = Mon} = St) ->
    erlang:demonitor(Mon, [flush]),
    {reply, ok, St#st{owner = Pid, owner_mon = erlang:monitor(process, Pid)}};
call({controlling_process, _Pid}, _From, St) ->
    {reply, {error, not_owner}, St};
call(close, _From, #st{ended = Ended} = St) when Ended =/= undefined ->
    {stop, normal, ok, St};
call(close, From, St) ->
    erlang:send_after(?LINGER_MS, self(), linger),
    step(pump(gate_up(St#st{closer = From})));
call(_, _From, St) ->
    {reply, {error, einval}, St}.

%% @doc gen_server callback: no casts.
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @doc gen_server callback: inertd's entries, timers, monitors.
-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, normal, #st{}}.
handle_info(Info, St) ->
    settle(info(Info, St)).

info({'$inert_io', Ref, What}, #st{ref = Ref} = St) ->
    step(entry(What, St));
info({'$inert_io', _OldRef, _}, St) ->
    {noreply, St};
info({timeout, TRef, recv_timeout}, #st{recvs = Q} = St) ->
    {Timed, Rest} = lists:partition(fun({_, _, {T, _}}) -> T =:= TRef end, queue:to_list(Q)),
    _ = [begin cancel_recv(Tag), gen_server:reply(From, {error, timeout}) end
         || {From, _, Tag} <- Timed],
    {noreply, St#st{recvs = queue:from_list(Rest)}};
info({timeout, TRef, send_timeout}, #st{senders = Q} = St) ->
    %% A send that has begun leaves a prefix of its data written.
    {Timed, Rest} = lists:partition(fun({_, _, _, T}) -> T =:= TRef end, queue:to_list(Q)),
    _ = [gen_server:reply(From, {error, timeout}) || {From, _, _, _} <- Timed],
    step(pump(St#st{senders = queue:from_list(Rest)}));
info(retry, St) ->
    step(deliver(pump(St#st{retry = false})));
info(linger, #st{closer = undefined} = St) ->
    {noreply, St};
info(linger, #st{closer = Closer} = St) ->
    %% Queued sends were not written in time: close anyway.
    St1 = fail_senders(send_close(St)),
    gen_server:reply(Closer, ok),
    {stop, normal, St1#st{closer = undefined}};
info({'DOWN', Mon, process, _, _}, #st{owner_mon = Mon} = St) ->
    %% The owner died: the handle goes with it.
    {stop, normal, send_close(St)};
info({'DOWN', Mon, port, Port, _}, #st{port_mon = Mon, port = Port, srv = Srv} = St) ->
    %% inertd died. The service forwards every entry the old daemon
    %% wrote before await_restart/4 returns; they are in this mailbox
    %% then, ahead of the message sent here now.
    _ = inert_srv:await_restart(Srv, Port, ?RESTART_WAIT_MS, failing),
    self() ! {'$inert_io_gone', Port},
    {noreply, St};
info({'$inert_io_gone', Port}, #st{port = Port} = St) ->
    step(ended(inertd_down, St));
info({'DOWN', _Mon, process, Srv, _}, #st{srv = Srv} = St) ->
    step(ended(closed, St));
info({'DOWN', Mon, process, _, _}, #st{recvs = Q} = St) ->
    %% A caller of recv/3 died while it waited: what comes is for the
    %% next caller.
    {noreply, St#st{recvs = queue:filter(fun({_, _, {_, M}}) -> M =/= Mon end, Q)}};
info(_Msg, St) ->
    {noreply, St}.

%% @doc gen_server callback: inertd closes the handle if it is still open.
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, St) ->
    _ = send_close(St),
    inert_io_window:forget(self()).

%%--------------------------------------------------------------------
%% Opening
%%--------------------------------------------------------------------

open(FD, O, St) ->
    Srv = whereis(inert),
    case Srv =/= undefined andalso inert_srv:lookup(Srv) of
        {Sock, Port} ->
            PortMon = erlang:monitor(port, Port),
            _ = erlang:monitor(process, Srv),
            ok = inert_srv:watch(Srv, self()),
            Ref = make_ref(),
            #{type := Type, read_size := RS, send_queue := SQ} = O,
            Req = inert_req:io_open(self(), Ref, FD, Type, RS, SQ),
            case inert_req:send(Sock, Req, FD, inert_deadline:at(?OPEN_WAIT_MS)) of
                ok ->
                    receive
                        {Ref, ok} ->
                            Packet = maps:get(packet, O),
                            C = inert_io_window:open(self(), {Sock, Ref, Type, Packet, SQ,
                                                              maps:get(buffer, O), St#st.owner}),
                            St1 = St#st{srv = Srv, sock = Sock, port = Port, port_mon = PortMon,
                                        ref = Ref, o = O, active = maps:get(active, O),
                                        frame = inert_io_frame:new(Type, Packet,
                                                                   maps:get(packet_size, O)),
                                        window = C, gated = true},
                            {ok, St1};
                        {Ref, {error, _} = Error} ->
                            Error;
                        {'DOWN', PortMon, port, Port, _} ->
                            {error, closed}
                    after ?OPEN_WAIT_MS ->
                        {error, timeout}
                    end;
                {error, timeout} ->
                    {error, eagain};
                {error, Reason} ->
                    case inert_req:gone(Reason) of
                        true -> {error, closed};
                        false -> {error, Reason}
                    end
            end;
        _ ->
            {error, closed}
    end.

%%--------------------------------------------------------------------
%% Entries from inertd
%%--------------------------------------------------------------------

entry({data, Chunks}, #st{frame = F, window = C} = St) ->
    ok = inert_io_window:took(C, inert_io_window:size_of(Chunks)),
    St1 = deliver(St#st{frame = inert_io_frame:push(Chunks, F)}),
    ok = inert_io_window:handled(C),
    St1;
entry(credit, St) ->
    %% The credit fell to half the buffer while the relay sent the data
    %% straight to the owner.
    deliver(St);
entry(sent, St) ->
    %% inertd wrote some of the window (inert_io_window:sent/3 counted
    %% it) while the gate was up: queued sends may go, close/1 may end.
    pump(St);
entry({closed, Reason}, St) ->
    ended(Reason, St).

%% The handle is gone from inertd (or inertd is): what is held is still
%% delivered, then the end.
ended(Reason, #st{ended = undefined, closer = undefined} = St) ->
    deliver(fail_senders(gate_up(St#st{ended = Reason, close_sent = true})));
ended(Reason, #st{ended = undefined} = St) ->
    %% close/1 waits for this: step/1 answers it; the owner is told
    %% nothing more.
    fail_senders(gate_up(St#st{ended = Reason, close_sent = true}));
ended(_Reason, St) ->
    deliver(St).

%% Answer a call, and stop if the handle has ended (see step/1).
reply(Reply, #st{ended = told} = St) ->
    {stop, normal, Reply, St};
reply(Reply, St) ->
    {reply, Reply, St}.

%% After an entry, a call or a timer: stop once the end has been told,
%% or once close/1 has its answer.
step(#st{ended = Ended, closer = Closer} = St) when Ended =/= undefined, Closer =/= undefined ->
    gen_server:reply(Closer, ok),
    {stop, normal, St#st{closer = undefined}};
step(#st{ended = told} = St) ->
    {stop, normal, St};
step(St) ->
    {noreply, St}.

%%--------------------------------------------------------------------
%% Delivering what was read, and the read credit
%%--------------------------------------------------------------------

%% Deliver what the owner may have now, then give inertd the credit the
%% buffer has room for. `told' in `ended' means the end was delivered.
deliver(#st{ref = undefined} = St) ->
    St;
deliver(St0) ->
    {St, Need} = hand_out(St0),
    credit(Need, tell_end(St)).

%% Hand out messages while the owner takes them: {St, Need}, Need the
%% bytes the buffer must hold for the next one when someone waits for
%% it, else 0.
hand_out(#st{active = false, recvs = Q, frame = F} = St) ->
    case queue:peek(Q) of
        empty ->
            {St, 0};
        {value, {From, Length, Tag}} ->
            case inert_io_frame:take(Length, F) of
                {ok, Bin, F1} ->
                    cancel_recv(Tag),
                    gen_server:reply(From, {ok, Bin}),
                    hand_out(St#st{frame = F1, recvs = queue:drop(Q)});
                more ->
                    {St, inert_io_frame:need(Length, F)};
                {error, emsgsize} ->
                    {too_long(St), 0}
            end
    end;
hand_out(#st{active = Active, frame = F, owner = Owner} = St) ->
    case inert_io_frame:take(F) of
        {ok, Bin, F1} ->
            Owner ! {inert_io, self(), Bin},
            hand_out(St#st{frame = F1, active = count_down(Active, Owner)});
        more ->
            {St, inert_io_frame:need(0, F)};
        {error, emsgsize} ->
            {too_long(St), 0}
    end.

count_down(true, _Owner) -> true;
count_down(once, _Owner) -> false;
count_down(1, Owner) -> Owner ! {inert_io_passive, self()}, false;
count_down(N, _Owner) -> N - 1.

%% A packet longer than packet_size: the handle ends.
too_long(#st{ended = undefined} = St) ->
    St1 = send_close(gate_up(St)),
    fail_senders(St1#st{ended = emsgsize, frame = drop_all(St1#st.frame)});
too_long(St) ->
    St#st{frame = drop_all(St#st.frame)}.

drop_all(F) ->
    case inert_io_frame:take(F) of
        {ok, _, F1} -> drop_all(F1);
        _ -> clear(F)
    end.

%% What is left (an incomplete packet) is dropped at the end.
clear(F) ->
    inert_io_frame:clear(F).

%% Tell the end once everything deliverable has been delivered: active,
%% `{inert_io_error, H, Reason}' (not for eof and closed) then
%% `{inert_io_closed, H}'; passive, to the first recv/3 waiting (a raw
%% stream's last bytes first, when fewer than it asked for).
tell_end(#st{ended = Ended} = St) when Ended =:= undefined; Ended =:= told ->
    St;
tell_end(#st{active = false, recvs = Q, frame = F, ended = Ended, o = #{packet := P}} = St) ->
    case queue:out(Q) of
        {empty, _} ->
            St;
        {{value, {From, _Length, Tag}}, Q1} ->
            cancel_recv(Tag),
            case P =:= raw andalso inert_io_frame:size(F) > 0 of
                true ->
                    %% The last bytes of a raw stream, fewer than asked.
                    {ok, Rest, F1} = inert_io_frame:take(0, F),
                    gen_server:reply(From, {ok, Rest}),
                    tell_end(St#st{recvs = Q1, frame = F1});
                false ->
                    gen_server:reply(From, {error, reason(Ended)}),
                    _ = [begin cancel_recv(T), gen_server:reply(Fr, {error, closed}) end
                         || {Fr, _, T} <- queue:to_list(Q1)],
                    St#st{recvs = queue:new(), ended = told, frame = clear(F)}
            end
    end;
tell_end(#st{owner = Owner, ended = Ended, frame = F} = St) ->
    %% Active: hand_out/1 has delivered every whole message.
    _ = Ended =:= eof orelse Ended =:= closed orelse (Owner ! {inert_io_error, self(), Ended}),
    Owner ! {inert_io_closed, self()},
    St#st{ended = told, frame = clear(F)}.

reason(eof) -> closed;
reason(Reason) -> Reason.

%% Give inertd credit up to the buffer size (or what the message waited
%% for needs), in steps of at least half of it so that a credit request
%% is not sent for every read.
credit(_Need, #st{ended = Ended} = St) when Ended =/= undefined ->
    St;
credit(Need, #st{o = #{buffer := Buffer}, frame = F, window = C} = St) ->
    %% Out mirrors inertd's credit: below 0 after a read longer than
    %% what was left (read_size larger than the buffer), which the next
    %% grant makes up for. Bytes still on their way here count in it
    %% (took/2 takes them off as they are buffered), and the relay takes
    %% off only what it sends straight to the owner, which is not held:
    %% so Room is never more than what is free.
    Out = inert_io_window:credit(C),
    Want = max(Buffer, Need),
    Room = Want - inert_io_frame:size(F) - Out,
    case Room > 0 andalso (Room >= Buffer div 2 orelse Out =< 0) of
        true ->
            %% Counted before it goes: data read with it may come first.
            ok = inert_io_window:grant(C, Room),
            case request(inert_req:io_credit(self(), St#st.ref, Room), St) of
                ok -> St;
                retry -> ok = inert_io_window:grant(C, -Room), St#st{retry = true}
            end;
        false ->
            St
    end.

%%--------------------------------------------------------------------
%% Sending
%%--------------------------------------------------------------------

%% Hand queued sends to inertd while the send window has room; close/1
%% goes once every send is written.
pump(#st{retry = true} = St) ->
    St;
pump(#st{ended = Ended} = St) when Ended =/= undefined ->
    St;
pump(#st{senders = Q, window = C, o = #{type := Type, send_queue := SQ}} = St) ->
    case queue:peek(Q) of
        empty ->
            maybe_close(St);
        {value, {From, <<>>, _Started, TRef}} when Type =:= stream ->
            done_sender(From, TRef, St);
        {value, {From, Bin, Started, TRef}} ->
            case piece(Type, byte_size(Bin), Started, inert_io_window:in_flight(C), SQ) of
                wait ->
                    St;
                Size ->
                    <<Chunk:Size/binary, Rest/binary>> = Bin,
                    %% Counted before it goes: its io_sent may come first.
                    ok = inert_io_window:reserve(C, Size),
                    case request(inert_req:io_send(self(), St#st.ref, Chunk), St) of
                        ok when Rest =:= <<>> ->
                            done_sender(From, TRef, St);
                        ok ->
                            pump(St#st{senders = queue:in_r({From, Rest, true, TRef}, queue:drop(Q))});
                        retry ->
                            ok = inert_io_window:release(C, Size),
                            St#st{retry = true}
                    end
            end
    end.

%% How much of a queued send goes in the next request, or `wait' (for
%% an io_sent). A send that needs more than one request (longer than a
%% request or than the room the window can have) begins only once the
%% window is empty: a send written straight by its caller
%% (inert_io_window) counts in the window from before it goes until it
%% is written, and none begins while the gate is up, so the pieces of
%% this one follow each other with nothing in between.
piece(datagram, Len, _Started, InFlight, SQ) when Len =< SQ - InFlight -> Len;
piece(datagram, _Len, _Started, _InFlight, _SQ) -> wait;
piece(stream, Len, Started, InFlight, SQ) ->
    Room = SQ - InFlight,
    Max = inert_io_frame:max_send(),
    if
        Len =< Max, Len =< Room -> Len;
        Started, Room > 0 -> min(Len, min(Max, Room));
        Len =< Max, Len =< SQ -> wait;
        InFlight =:= 0 -> min(Max, SQ);
        true -> wait
    end.

done_sender(From, TRef, #st{senders = Q} = St) ->
    cancel(TRef),
    gen_server:reply(From, ok),
    pump(St#st{senders = queue:drop(Q)}).

maybe_close(#st{closer = undefined} = St) ->
    St;
maybe_close(#st{window = C} = St) ->
    case inert_io_window:in_flight(C) of
        0 -> send_close(St);
        _ -> St
    end.

fail_senders(#st{senders = Q} = St) ->
    _ = [begin cancel(T), gen_server:reply(From, {error, closed}) end
         || {From, _, _, T} <- queue:to_list(Q)],
    St#st{senders = queue:new()}.

send_close(#st{ref = undefined} = St) ->
    St;
send_close(#st{close_sent = true} = St) ->
    St;
send_close(St) ->
    _ = request(inert_req:io_close(self(), St#st.ref), St),
    St#st{close_sent = true}.

%% Send a request on the side channel. `retry' when it stayed full for
%% SIDE_WAIT_MS (the handle tries again in RETRY_MS); a daemon that is
%% gone is the port monitor's to report, so that is `ok' here.
request(Req, #st{sock = Sock} = St) ->
    case inert_req:send(Sock, Req, none, inert_deadline:at(?SIDE_WAIT_MS)) of
        ok ->
            ok;
        {error, timeout} ->
            _ = St#st.retry orelse erlang:send_after(?RETRY_MS, self(), retry),
            retry;
        {error, _} ->
            ok
    end.

setopts(Opts, St) when is_list(Opts) ->
    try
        {ok, lists:foldl(fun setopt/2, St, Opts)}
    catch
        throw:einval -> error
    end;
setopts(_, _) ->
    error.

setopt({active, A}, #st{owner = Owner} = St) ->
    valid_active(A) orelse throw(einval),
    St#st{active = add_active(A, St#st.active, Owner)};
setopt({packet, _} = Opt, #st{o = O} = St) ->
    #{packet := P} = option(Opt, O),
    maps:get(type, O) =:= stream orelse P =:= raw orelse throw(einval),
    ok = inert_io_window:set_packet(self(), P),
    St#st{o = O#{packet => P}, frame = inert_io_frame:set_packet(P, St#st.frame)};
setopt({buffer, _} = Opt, #st{o = O, window = C} = St) ->
    #{buffer := Buffer} = option(Opt, O),
    ok = inert_io_window:set_half(C, Buffer),
    St#st{o = O#{buffer => Buffer}};
setopt({send_timeout, _} = Opt, #st{o = O} = St) ->
    St#st{o = maps:merge(O, maps:with([send_timeout], option(Opt, O)))};
setopt(_, _) ->
    throw(einval).

%% {active, N} adds N to the count, as for gen_tcp; a count that reaches
%% 0 or less makes the handle passive, with a passive message.
add_active(N, Old, Owner) when is_integer(N) ->
    Sum = case Old of
        M when is_integer(M) -> M + N;
        _ -> N
    end,
    case Sum > 0 of
        true -> Sum;
        false -> Owner ! {inert_io_passive, self()}, false
    end;
add_active(A, _Old, _Owner) ->
    A.

%% The gate (inert_io_window): up while sends must come through this
%% process, that is while some wait in its queue, close/1 waits, or the
%% handle has ended; raised before the state that needs it is acted on,
%% lowered after each callback once nothing needs it.
gate_up(#st{gated = true} = St) ->
    St;
gate_up(#st{window = C} = St) ->
    ok = inert_io_window:raise(C),
    St#st{gated = true}.

settle({reply, Reply, St}) -> {reply, Reply, route(lower(St))};
settle({noreply, St}) -> {noreply, route(lower(St))};
settle(Stop) -> Stop.

%% The read route (inert_io_window): straight from the relay to the
%% owner while the handle is {active, true} with nothing held and no
%% framing to do; back through this process, and every entry already
%% on its way relayed, before any change of that is acted on or
%% answered. Also after each callback.
route(#st{window = undefined} = St) ->
    St;
route(#st{direct = Direct, window = C} = St) ->
    case {Direct, direct_to(St)} of
        {Same, Same} ->
            St;
        {none, Owner} ->
            ok = inert_io_window:set_owner(self(), Owner),
            case inert_io_window:go_direct(C) of
                true -> St#st{direct = Owner};
                false -> St
            end;
        {_Old, _New} ->
            ok = inert_io_window:go_around(C),
            ok = inert_srv:sync(St#st.srv),
            route(St#st{direct = none})
    end.

direct_to(#st{active = true, ended = undefined, closer = undefined, owner = Owner,
              frame = F, o = #{type := Type, packet := Packet}}) when Type =:= datagram; Packet =:= raw ->
    case inert_io_frame:is_empty(F) andalso in_send_order(Owner) of
        true -> Owner;
        false -> none
    end;
direct_to(_St) ->
    none.

%% Whether messages from two processes reach Owner in the order they
%% were sent: Erlang promises that only for one sender, and OTP's
%% parallel signal sending can break it for a message queue kept off the
%% heap (the buffers of several senders are appended in slot order). On
%% the heap, a message is queued as it is sent. Only then may data go
%% straight from the service: what this process sends the owner (the
%% end, the answers to setopts/2 and controlling_process/2, data it
%% held) must not be overtaken by it, nor overtake it.
in_send_order(Owner) when node(Owner) =:= node() ->
    process_info(Owner, message_queue_data) =:= {message_queue_data, on_heap};
in_send_order(_Owner) ->
    false.

lower(#st{gated = true, window = C, senders = Q, closer = undefined, ended = undefined} = St)
  when C =/= undefined ->
    case queue:is_empty(Q) of
        true ->
            ok = inert_io_window:lower(C),
            St#st{gated = false};
        false ->
            St
    end;
lower(St) ->
    St.

cancel(undefined) -> ok;
cancel(TRef) -> _ = erlang:cancel_timer(TRef), ok.

cancel_recv({TRef, Mon}) ->
    erlang:demonitor(Mon, [flush]),
    cancel(TRef).
