%% @doc `make io-demo', part 2: a serial line, simulated with a pty that
%% inertd opens with the settings of a real one (115200 bit/s, 8N1, no
%% flow control, raw).
%%
%% The pty's peer side plays the device: a process with an I/O handle on
%% it answers line-based commands (`PING' -> `PONG', `ECHO text' ->
%% `text', anything else -> `ERR unknown'). It is slow, as a busy
%% microcontroller is: after each message it works for a few ms before
%% it asks for the next (`{active, once}'). Its handle has a small
%% buffer, so inertd reads the line only as fast as the device takes it:
%% what the host writes meanwhile waits in the pty, as it would in a
%% UART's FIFO, not in the device's mailbox.
%% The controlling side plays the host: a passive handle (`{active,
%% false}') from which it takes the replies with `inert_io:recv/3'.
%% Both handles work on inertd's duplicates, so the VM closes its own
%% fds at once; at the end the host hangs up (closes its handle) and the
%% device sees the line go away and closes its own.
%%
%% run/1 sends a burst of commands in one write and checks every reply.
-module(serial).

-export([run/1, main/0]).

-define(TERMIOS, #{speed => 115200, raw => true, data_bits => 8, parity => none,
                   stop_bits => 1, flow => none}).
%% The device's handle: it holds at most BUFFER + READ_SIZE bytes it has
%% not asked for.
-define(BUFFER, 256).
-define(READ_SIZE, 64).
-define(TIMEOUT, 5000).
%% How long the device works on each message before it asks again (ms).
-define(PAUSE, 5).

-spec main() -> no_return().
main() ->
    erlang:halt(case run(#{}) of #{ok := true} -> 0; _ -> 1 end).

%% @doc `commands' commands (`ECHO k', with a `PING' and an unknown one
%% first) in one write; a summary map, printed unless `quiet'.
-spec run(map()) -> map().
run(Opts) ->
    #{commands := N, quiet := Quiet} = maps:merge(#{commands => 500, quiet => false}, Opts),
    Say = fun(F, A) -> Quiet orelse io:format(F, A) end,
    ok = inert:start(),
    {ok, HostFD, #{peer := DevFD, path := Path}} = inert_fd:open(#{type => pty, termios => ?TERMIOS}),
    {ok, Host} = inert_io:open(HostFD, [{active, false}]),
    ok = inert_fd:close(HostFD),
    Device = start_device(DevFD),
    Say("serial: pty ~s, 115200 8N1 raw, device on the peer side, host on the controlling side~n",
        [Path]),
    %% one command, one reply: the host waits for each
    Hello = [{<<"PING">>, <<"PONG">>}, {<<"HELLO">>, <<"ERR unknown">>}],
    HelloReplies = [command(Host, Cmd) || {Cmd, _} <- Hello],
    [Say("host> ~s~ndevice> ~s~n", [Cmd, R]) || {{Cmd, _}, R} <- lists:zip(Hello, HelloReplies)],
    %% a burst: every command in one write, the replies read as they come
    Burst = [<<"ECHO ", (integer_to_binary(K))/binary>> || K <- lists:seq(1, N)],
    ok = inert_io:send(Host, [[C, $\n] || C <- Burst]),
    Replies = read_lines(Host, N, <<>>, []),
    Expected = [binary:part(C, 5, byte_size(C) - 5) || C <- Burst],
    %% the host hangs up; the device sees it and closes its handle
    ok = inert_io:close(Host),
    DeviceEnd = receive {Device, End} -> End after ?TIMEOUT -> device_did_not_end end,
    Ok = HelloReplies =:= [R || {_, R} <- Hello] andalso Replies =:= Expected,
    Say("host> ~b ECHO commands in one write (~b bytes); ~s~n",
        [N, iolist_size([[C, $\n] || C <- Burst]),
         case Replies =:= Expected of true -> "every reply right, in order";
                                      false -> "WRONG REPLIES" end]),
    case DeviceEnd of
        #{messages := Msgs, largest := Largest, commands := Cmds, hangup := Hangup} ->
            Say("device: ~b commands taken in ~b messages of at most ~b bytes "
                "(its buffer ~b + one read ~b): inertd read the line only as the device asked~n"
                "device: the host hung up (~p), handle closed~n",
                [Cmds, Msgs, Largest, ?BUFFER, ?READ_SIZE, Hangup]);
        Other ->
            Say("device: ~p~n", [Other])
    end,
    #{ok => Ok andalso is_map(DeviceEnd), replies => length(Replies), device => DeviceEnd,
      buffer => ?BUFFER, read_size => ?READ_SIZE}.

%% One command, its reply line.
command(Host, Cmd) ->
    ok = inert_io:send(Host, [Cmd, $\n]),
    [Reply] = read_lines(Host, 1, <<>>, []),
    Reply.

%% N lines from a passive handle: recv/3 gives what is there (at least a
%% byte), the lines are cut here.
read_lines(_Host, 0, <<>>, Acc) ->
    lists:reverse(Acc);
read_lines(Host, N, Part, Acc) ->
    case binary:split(Part, <<"\n">>) of
        [Line, Rest] when N > 0 ->
            read_lines(Host, N - 1, Rest, [Line | Acc]);
        _ ->
            case inert_io:recv(Host, 0, ?TIMEOUT) of
                {ok, Bin} -> read_lines(Host, N, <<Part/binary, Bin/binary>>, Acc);
                {error, Reason} -> exit({host_recv, Reason, {lines_missing, N}})
            end
    end.

%%--------------------------------------------------------------------
%% The device
%%--------------------------------------------------------------------

%% The device's process opens its handle (it is the owner) and the VM's
%% fd of the peer is closed; it reports to the caller when it ends.
start_device(DevFD) ->
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn_link(fun() ->
        {ok, H} = inert_io:open(DevFD, [{active, false}, {buffer, ?BUFFER},
                                        {read_size, ?READ_SIZE}]),
        Parent ! {Ref, ready},
        device(H, Parent, <<>>, #{messages => 0, largest => 0, commands => 0})
    end),
    receive {Ref, ready} -> ok end,
    ok = inert_fd:close(DevFD),
    Pid.

device(H, Parent, Part, #{messages := M, largest := L, commands := C} = St) ->
    ok = inert_io:setopts(H, [{active, once}]),   % ask for the next bytes
    receive
        {inert_io, H, Bin} ->
            {Lines, Rest} = lines(<<Part/binary, Bin/binary>>, []),
            case Lines of
                [] -> ok;
                _ -> ok = inert_io:send(H, [[answer(Line), $\n] || Line <- Lines])
            end,
            receive after ?PAUSE -> ok end,   % busy elsewhere
            device(H, Parent, Rest, St#{messages := M + 1, largest := max(L, byte_size(Bin)),
                                         commands := C + length(Lines)});
        {inert_io_error, H, Reason} ->   % a pty whose host side closed: eio
            device_end(H, Parent, St#{hangup => Reason});
        {inert_io_closed, H} ->
            device_end(H, Parent, St#{hangup => closed})
    end.

device_end(H, Parent, St) ->
    ok = inert_io:close(H),
    Parent ! {self(), St}.

lines(Bin, Acc) ->
    case binary:split(Bin, <<"\n">>) of
        [Line, Rest] -> lines(Rest, [Line | Acc]);
        [Rest] -> {lists:reverse(Acc), Rest}
    end.

answer(<<"PING">>) -> <<"PONG">>;
answer(<<"ECHO ", Text/binary>>) -> Text;
answer(_) -> <<"ERR unknown">>.
