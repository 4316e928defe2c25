%% @doc Fds without inertd, behind `inert_fd' (the public module, whose
%% documentation says what each function promises): SCM_RIGHTS messages
%% over any unix socket (send, recv, take), closing a bare fd, and the
%% spec of `open' (a socket or a device) with its defaults filled in.
%%
%% Owns no process and no state; calls no other module of the app, so
%% the service (`inert_srv', `prim_inert') can use it and `inert_fd' can
%% sit above `prim_inert'.
%%
%% @private
-module(inert_fdlib).

-export([send/4, recv/3, take/2, close/1, spec/1, termios/1]).

-export_type([fd/0, spec/0, full_spec/0, termios/0, error_reason/0]).

-type fd() :: non_neg_integer().
-type spec() :: #{type => tcp | udp, family => inet | inet6,
                  addr => inet:ip_address() | any | loopback | string(),
                  port => inet:port_number(), reuseaddr => boolean(),
                  reuseport => boolean(), backlog => non_neg_integer()}
              | #{type := tun | tap, name => binary() | string(), pi => boolean()}
              | #{type := pty, termios => termios() | [{atom(), term()} | atom()]}
              | [{atom(), term()} | atom()].
-type error_reason() :: atom() | {invalid, term()}.
%% too_many_fds | truncated | unexpected_control, or what the socket
%% module says: closed | timeout | inet:posix() | {invalid, What}
-type termios() :: #{speed => 1..4000000, raw => boolean(), data_bits => 5..8,
                     parity => none | even | odd, stop_bits => 1 | 2,
                     flow => none | hardware | software}.
%% The line settings of a pty's peer; a key left out stays as the kernel
%% made it.
-type full_spec() :: #{type := tcp | udp, family := inet | inet6,
                       addr := inet:ip_address(), port := inet:port_number(),
                       reuseaddr := boolean(), reuseport := boolean(),
                       backlog => non_neg_integer()}
                   | #{type := tun | tap, name := binary(), pi := boolean()}
                   | #{type := pty, termios := termios()}.
%% A spec with every key, as it goes to inertd.

%% Linux takes at most SCM_MAX_FD (253) fds in one message.
-define(MAX_FDS, 253).
-define(MAX_FD, 16#7fffffff).

%%--------------------------------------------------------------------
%% Over any unix socket
%%--------------------------------------------------------------------

%% @doc What `inert_fd:send/4' does.
-spec send(socket:socket(), iodata(), [fd()], timeout()) -> ok | {error, error_reason()}.
send(Sock, Payload, FDs, Timeout) ->
    case is_socket(Sock) andalso is_fd_list(FDs) andalso length(FDs) =< ?MAX_FDS
         andalso is_iodata(Payload) of
        false ->
            {error, einval};
        true ->
            Data = case iolist_to_binary(Payload) of
                <<>> when FDs =/= [] -> <<0>>;
                Bin -> Bin
            end,
            Msg = case FDs of
                [] -> #{iov => [Data]};
                _ -> #{iov => [Data],
                       ctrl => [#{level => socket, type => rights,
                                  data => << <<FD:32/native>> || FD <- FDs >>}]}
            end,
            socket_call(fun() -> sent(socket:sendmsg(Sock, Msg, Timeout), Sock, Timeout) end)
    end.

%% A socket call with arguments checked here as far as they can be: what
%% is left (a closed-over socket of another kind, a bad timeout) is
%% {error, einval}, not a crash of the caller.
socket_call(Fun) ->
    try
        Fun()
    catch
        error:badarg -> {error, einval};
        error:{invalid, _} -> {error, einval};
        error:timeout_value -> {error, einval}
    end.

%% An OTP socket (socket:socket() is this record in OTP 25 and later).
is_socket({'$socket', Ref}) -> is_reference(Ref);
is_socket(_) -> false.

is_fd_list(FDs) ->
    try
        lists:all(fun valid_fd/1, FDs)
    catch
        error:_ -> false
    end.

is_iodata(Payload) ->
    try iolist_size(Payload) of
        _ -> true
    catch
        error:badarg -> false
    end.

sent(ok, _Sock, _Timeout) -> ok;
sent({ok, Rest}, Sock, Timeout) -> sent(socket:send(Sock, Rest, Timeout), Sock, Timeout);
sent({error, {Reason, _Rest}}, _Sock, _Timeout) -> {error, Reason};
sent({error, _} = Error, _Sock, _Timeout) -> Error.

%% @doc What `inert_fd:recv/3' does.
-spec recv(socket:socket(), non_neg_integer(), timeout()) ->
    {ok, binary(), [fd()]} | {error, error_reason()}.
recv(Sock, MaxFDs, Timeout) when is_integer(MaxFDs), MaxFDs >= 0, MaxFDs =< ?MAX_FDS ->
    case is_socket(Sock) andalso
         socket_call(fun() -> socket:recvmsg(Sock, 0, ctrl_size(max(MaxFDs, 1)), [], Timeout) end) of
        false -> {error, einval};
        {ok, Msg} -> take(Msg, MaxFDs);
        {error, _} = Error -> Error
    end;
recv(_Sock, _MaxFDs, _Timeout) ->
    {error, einval}.

%% @doc What `inert_fd:take/2' does.
-spec take(socket:msg_recv() | term(), non_neg_integer() | term()) ->
    {ok, binary(), [fd()]} | {error, too_many_fds | truncated | unexpected_control | einval}.
take(#{iov := IOV, flags := Flags} = Msg, MaxFDs)
  when is_list(IOV), is_list(Flags), is_integer(MaxFDs), MaxFDs >= 0 ->
    case is_iodata(IOV) andalso well_formed_ctrl(maps:get(ctrl, Msg, [])) of
        true -> take1(Msg, MaxFDs);
        false -> {error, einval}
    end;
take(_Msg, _MaxFDs) ->
    {error, einval}.

%% Control messages as socket:recvmsg returns them.
well_formed_ctrl(Ctrl) when is_list(Ctrl) ->
    try
        lists:all(fun(#{level := _, type := _} = C) ->
                          not is_map_key(data, C) orelse is_binary(maps:get(data, C));
                     (_) -> false
                  end, Ctrl)
    catch
        error:_ -> false
    end;
well_formed_ctrl(_) ->
    false.

take1(#{iov := IOV, flags := Flags} = Msg, MaxFDs) ->
    {FDs, Other} = rights(maps:get(ctrl, Msg, []), [], false),
    Error = case {lists:member(trunc, Flags), Other} of
        {true, _} -> truncated;
        {false, true} -> unexpected_control;
        %% ctrunc: fds that did not fit were closed by the kernel
        {false, false} -> too_many(lists:member(ctrunc, Flags) orelse length(FDs) > MaxFDs)
    end,
    case Error of
        none ->
            {ok, iolist_to_binary(IOV), FDs};
        _ ->
            _ = [close(FD) || FD <- FDs],
            {error, Error}
    end.

too_many(true) -> too_many_fds;
too_many(false) -> none.

%% The fds of the SCM_RIGHTS control messages, and whether there was any
%% other control message.
rights([#{level := socket, type := rights, data := Data} | Rest], Acc, Other) ->
    rights(Rest, Acc ++ [FD || <<FD:32/native-signed>> <= Data, FD >= 0], Other);
rights([_ | Rest], Acc, _Other) ->
    rights(Rest, Acc, true);
rights([], Acc, Other) ->
    {Acc, Other}.

%% CMSG_SPACE(4 * N): the control buffer for N fds.
ctrl_size(N) ->
    W = erlang:system_info(wordsize),
    align(W + 8, W) + align(4 * N, W).

align(N, W) ->
    (N + W - 1) div W * W.

%% @doc What `inert_fd:close/1' does.
-spec close(term()) -> ok | {error, ebadf | term()}.
close(FD) ->
    case valid_fd(FD) andalso prim_file:file_desc_to_ref(FD, [read]) of
        false -> {error, ebadf};
        {ok, File} -> prim_file:close(File);
        {error, _} = Error -> Error
    end.

%% @doc What `inert_fd:spec/1' does.
-spec spec(term()) -> {ok, full_spec()} | error.
spec(Spec) when is_list(Spec) ->
    case to_map(Spec) of
        {ok, Map} -> spec(Map);
        error -> error
    end;
spec(#{type := Type} = Spec) when Type =:= tun; Type =:= tap ->
    Full = maps:merge(#{name => <<>>, pi => false}, Spec),
    case maps:keys(Full) -- [name, pi, type] =:= [] andalso if_name(maps:get(name, Full)) of
        false -> error;
        error -> error;
        Name when is_boolean(map_get(pi, Full)) -> {ok, Full#{name := Name}};
        _ -> error
    end;
spec(#{type := pty} = Spec) ->
    Full = maps:merge(#{termios => #{}}, Spec),
    case maps:keys(Full) -- [termios, type] =:= [] andalso termios(maps:get(termios, Full)) of
        {ok, Termios} -> {ok, Full#{termios := Termios}};
        _ -> error
    end;
spec(Spec) when is_map(Spec) ->
    Family = maps:get(family, Spec, family_of(maps:get(addr, Spec, any))),
    Type = maps:get(type, Spec, tcp),
    Backlog = case Type of
        tcp -> #{backlog => maps:get(backlog, Spec, 128)};
        _ -> #{}
    end,
    Full = maps:merge(#{type => Type, family => Family, addr => any, port => 0,
                        reuseaddr => false, reuseport => false}, maps:merge(Spec, Backlog)),
    Keys = [addr, backlog, family, port, reuseaddr, reuseport, type],
    case maps:keys(Full) -- Keys =:= [] andalso valid(Full) of
        false -> error;
        true -> {ok, Full#{addr := address(Family, maps:get(addr, Full))}}
    end;
spec(_) ->
    error.

%% An interface name as the kernel takes it (and inertd checks it): at
%% most 15 bytes of printable ASCII but for space, / and :, not . or ..;
%% the empty name lets the kernel pick (tunN, tapN).
if_name(Name) when is_list(Name) ->
    case io_lib:printable_latin1_list(Name) of
        true -> if_name(list_to_binary(Name));
        false -> error
    end;
if_name(Name) when is_binary(Name), byte_size(Name) =< 15, Name =/= <<".">>, Name =/= <<"..">> ->
    case [C || <<C>> <= Name, C =< $\s orelse C > $~ orelse C =:= $/ orelse C =:= $:] of
        [] -> Name;
        _ -> error
    end;
if_name(_) ->
    error.

%% @doc The termios of a pty spec or of `inert_fd:termios/2', a map or
%% proplist, as it goes to inertd: `{ok, Map}' when every key is known
%% and every value in range, else `error'.
-spec termios(term()) -> {ok, termios()} | error.
termios(Termios) when is_list(Termios) ->
    case to_map(Termios) of
        {ok, Map} -> termios(Map);
        error -> error
    end;
termios(Termios) when is_map(Termios) ->
    case lists:all(fun termios_setting/1, maps:to_list(Termios)) of
        true -> {ok, Termios};
        false -> error
    end;
termios(_) ->
    error.

termios_setting({speed, S}) -> is_integer(S) andalso S >= 1 andalso S =< 4000000;
termios_setting({raw, R}) -> is_boolean(R);
termios_setting({data_bits, B}) -> is_integer(B) andalso B >= 5 andalso B =< 8;
termios_setting({parity, P}) -> lists:member(P, [none, even, odd]);
termios_setting({stop_bits, B}) -> B =:= 1 orelse B =:= 2;
termios_setting({flow, F}) -> lists:member(F, [none, hardware, software]);
termios_setting(_) -> false.

family_of(Addr) when tuple_size(Addr) =:= 8 -> inet6;
family_of(Addr) when is_list(Addr) ->
    case parse_address(Addr) of
        {ok, IP} -> family_of(IP);
        {error, _} -> inet
    end;
family_of(_) -> inet.

valid(#{type := Type, family := Family, addr := Addr, port := Port, reuseaddr := RA,
        reuseport := RP} = Spec) ->
    (Type =:= tcp orelse Type =:= udp)
        andalso (Family =:= inet orelse Family =:= inet6)
        andalso address(Family, Addr) =/= error
        andalso is_integer(Port) andalso Port >= 0 andalso Port =< 65535
        andalso is_boolean(RA) andalso is_boolean(RP)
        andalso case Spec of
                    #{backlog := B} -> Type =:= tcp andalso is_integer(B) andalso B >= 0 andalso B =< 65535;
                    _ -> Type =:= udp
                end.

address(inet, any) -> {0, 0, 0, 0};
address(inet, loopback) -> {127, 0, 0, 1};
address(inet6, any) -> {0, 0, 0, 0, 0, 0, 0, 0};
address(inet6, loopback) -> {0, 0, 0, 0, 0, 0, 0, 1};
address(Family, Addr) when is_list(Addr) ->
    case parse_address(Addr) of
        {ok, IP} -> address(Family, IP);
        {error, _} -> error
    end;
address(inet, {_, _, _, _} = IP) -> checked(IP, 255);
address(inet6, {_, _, _, _, _, _, _, _} = IP) -> checked(IP, 65535);
address(_, _) -> error.

%% inet:parse_strict_address/1 of a string; anything else (an improper
%% or deep list, non-characters) is not an address.
parse_address(Addr) ->
    case io_lib:printable_latin1_list(Addr) of
        true -> inet:parse_strict_address(Addr);
        false -> {error, einval}
    end.

checked(IP, Max) ->
    case lists:all(fun(N) -> is_integer(N) andalso N >= 0 andalso N =< Max end,
                   tuple_to_list(IP)) of
        true -> IP;
        false -> error
    end.

valid_fd(FD) ->
    is_integer(FD) andalso FD >= 0 andalso FD =< ?MAX_FD.

%% A proplist (bare atoms meaning true) as a map, or error.
to_map(List) ->
    try
        {ok, maps:from_list(proplists:unfold(List))}
    catch
        error:_ -> error
    end.
