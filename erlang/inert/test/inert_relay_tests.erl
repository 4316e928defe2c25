%% EUnit tests of inert_relay's log entries: a well-formed
%% {log, Level, Time, Text} is one logger event with inertd's domain, OS
%% pid and time; anything else is not a log entry (unknown).
-module(inert_relay_tests).

-include_lib("eunit/include/eunit.hrl").

-export([log/2]).

%% The logger handler: every event to the process in its config.
log(Event, #{config := #{to := Pid}}) ->
    Pid ! {event, Event},
    ok.

with_handler(Fun) ->
    ok = logger:add_handler(inert_relay_tests, ?MODULE,
                            #{level => all, config => #{to => self()}}),
    ok = logger:set_module_level(inert_relay, all),
    T = inert_table:new(),
    try
        Fun(inert_relay:daemon(4242, inert_relay:new(T)))
    after
        inert_table:delete(T),
        logger:unset_module_level(inert_relay),
        logger:remove_handler(inert_relay_tests)
    end.

%% The handler runs in the logging process (this one): the event is in
%% the mailbox once entry/2 returns.
events() ->
    receive {event, E} -> [E | events()] after 0 -> [] end.

log_entry_is_an_event_of_its_level_with_domain_os_pid_and_time_test() ->
    with_handler(fun(R) ->
        [begin
             R = inert_relay:entry({log, Level, 1764583200123456, <<"using epoll: caf", 16#c3, 16#a9>>}, R),
             [#{level := Level, msg := {Format, Args}, meta := Meta}] = events(),
             ?assertMatch(#{domain := [inert], os_pid := 4242, time := 1764583200123456}, Meta),
             ?assertEqual(<<"inertd (os pid 4242): using epoll: caf", 16#c3, 16#a9>>,
                          unicode:characters_to_binary(io_lib:format(Format, Args)))
         end || Level <- [debug, info, notice, warning, error]]
    end).

malformed_log_entries_are_unknown_and_log_nothing_test() ->
    with_handler(fun(R) ->
        [?assertEqual(unknown, inert_relay:entry(E, R))
         || E <- [{log, critical, 0, <<"x">>}, {log, bogus, 0, <<"x">>},
                  {log, info, 0, "not a binary"}, {log, info, 1.5, <<"x">>},
                  {log, info, <<"x">>}, {log, info, 0, <<"x">>, extra}]],
        ?assertEqual([], events())
    end).
