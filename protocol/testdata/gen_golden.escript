#!/usr/bin/env escript
%%! -erl_epmd_port 43690
%% Regenerates protocol/testdata/golden/ from OTP's own term_to_binary/2.
%%
%%     escript protocol/testdata/gen_golden.escript
%%
%% Run it once by hand when the protocol changes and commit the output; the
%% Go tests only read the files. Generated with OTP 25.
%%
%% Layout (every file is one term_to_binary/2 result, version byte 131 first):
%%
%%   golden/<flavour>/<enc>/<name>.etf
%%     flavour  local: a non-distributed node (nonode@nohost, creation 0)
%%              sname: the same script after net_kernel:start/1 with a short
%%                     name (inert_golden@<host>, non-zero creation)
%%     enc      default: term_to_binary(T) (OTP 25: latin-1 atoms as ATOM_EXT)
%%              mv2:     term_to_binary(T, [{minor_version, 2}]) (UTF-8 atoms)
%%     name     pid, pid2, pid_serial, pid_remote, ref, ref_alias, ref_remote,
%%              gen, gen_big: the components the other terms are built from
%%              (gen and gen_big are fdset Refs: the VM's generation of an
%%              interest, a positive integer)
%%              req_*: one request of PROTOCOL.md (or a malformed one)
%%              ent_*: a frame payload [Entry] (or several entries)
%%              msg_*: a side channel message from inertd ({fd, Pid, Ref})
%%   golden/terms/<enc>/<name>.etf: single integers, atoms and binaries
%%   golden/legacy/<name>.etf: hand-built requests in the old formats OTP
%%     still decodes but no longer writes (PID_EXT, NEW_REFERENCE_EXT,
%%     REFERENCE_EXT); each one is checked with binary_to_term/1 first.
%%
%% -erl_epmd_port (line 2) lets net_kernel:start/1 run without an epmd.
-mode(compile).

main(_) ->
    Dir = filename:join(filename:dirname(escript:script_name()), "golden"),
    flavour(Dir, "local"),
    {ok, _} = net_kernel:start([inert_golden, shortnames]),
    flavour(Dir, "sname"),
    terms(Dir),
    legacy(Dir),
    io:format("wrote ~s~n", [Dir]).

encodings() -> [{"default", []}, {"mv2", [{minor_version, 2}]}].

write(Dir, Name, Bin) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, Name ++ ".etf"), Bin).

flavour(Dir, Flavour) ->
    Pid2 = spawn(fun() -> receive stop -> ok end end),
    C = #{pid => self(),
          pid2 => Pid2,
          pid_serial => list_to_pid("<0.1.2>"),
          pid_remote => binary_to_term(<<131, 88, 119, 14, "peer@elsewhere",
                                         100:32, 3:32, 16#DEADBEEF:32>>),
          ref => make_ref(),
          ref_alias => alias(),
          ref_remote => binary_to_term(<<131, 90, 3:16, 119, 14, "peer@elsewhere",
                                         9:32, 1:32, 2:32, 3:32>>),
          gen => 42,
          gen_big => 1 bsl 40},
    Terms = [{atom_to_list(K), V} || {K, V} <- maps:to_list(C)]
        ++ [{"req_" ++ N, T} || {N, T} <- requests(C)]
        ++ [{"ent_" ++ N, T} || {N, T} <- entries(C)]
        ++ [{"msg_fd", {fd, maps:get(pid, C), maps:get(ref, C)}}],
    [write(filename:join([Dir, Flavour, E]), N, term_to_binary(T, Opts))
     || {E, Opts} <- encodings(), {N, T} <- Terms],
    Pid2 ! stop,
    ok.

requests(#{pid := P, pid2 := P2, pid_serial := PS, pid_remote := PR,
           ref := R, ref_alias := RA, ref_remote := RR, gen := G, gen_big := GB}) ->
    [{"hello", {hello, P}},
     {"fdset_read", {fdset, P, R, 7, read}},
     {"fdset_write", {fdset, P, R, 0, write}},
     {"fdset_read_write", {fdset, P, R, 16#7fffffff, read_write}},
     {"fdset_dead", {fdset, P, R, 255, read, P2}},
     {"fdset_gen", {fdset, P, G, 256, read}},
     {"fdset_gen_big", {fdset, P, GB, 257, write}},
     {"fdset_gen_dead", {fdset, P, G, 258, read_write, P2}},
     {"fdset_gen_2p63m1", {fdset, P, (1 bsl 63) - 1, 259, read}},
     {"fdset_serial", {fdset, PS, R, 3, write}},
     {"fdset_remote", {fdset, PR, RR, 4, read}},
     {"fdset_alias", {fdset, P, RA, 5, read}},
     {"fdset_fd_negative", {fdset, P, R, -1, read}},
     {"fdset_fd_2p31", {fdset, P, R, 16#80000000, read}},
     {"fdset_fd_minint64", {fdset, P, R, -(1 bsl 63), write}},
     {"fdset_fd_maxint64", {fdset, P, R, (1 bsl 63) - 1, write}},
     {"fdset_fd_2p63", {fdset, P, R, 1 bsl 63, read}},
     {"fdset_fd_2p64", {fdset, P, R, 1 bsl 64, read}},
     {"fdset_fd_huge", {fdset, P, R, 1 bsl 2100, read}},
     {"fdset_fd_atom", {fdset, P, R, stdin, read}},
     {"fdset_fd_float", {fdset, P, R, 7.0, read}},
     {"fdset_mode_bad", {fdset, P, R, 7, readwrite}},
     {"fdset_mode_none", {fdset, P, R, 7, none}},
     {"fdset_mode_list", {fdset, P, R, 7, [read]}},
     {"fdset_mode_string", {fdset, P, R, 7, "read"}},
     {"poll", {poll, P, R, 9, read_write}},
     {"poll_dead", {poll, P, R, 9, write, P2}},
     {"fdclr", {fdclr, P, R, 12, read}},
     {"cancel", {cancel, R, 9}},
     {"down", {down, P2}},
     {"controlling_process", {controlling_process, P, R, P2}},
     {"info", {info, P, R}},
     {"dup", {dup, P, R, 7}},
     {"dup_fd_negative", {dup, P, R, -1}},
     {"dup_fd_atom", {dup, P, R, stdin}},
     %% open: the first three as inert_fd:open/1 sends them (every key)
     {"open_tcp", {open, P, R, #{type => tcp, family => inet, addr => {127,0,0,1},
                                 port => 0, reuseaddr => true, reuseport => false,
                                 backlog => 16}}},
     {"open_udp6", {open, P, R, #{type => udp, family => inet6,
                                  addr => {0,0,0,0,0,0,0,1}, port => 5353,
                                  reuseaddr => false, reuseport => true}}},
     {"open_tcp6_any", {open, P, R, #{type => tcp, family => inet6,
                                      addr => {16#fe80,0,0,0,0,0,0,16#ffff},
                                      port => 65535, reuseaddr => false,
                                      reuseport => false, backlog => 0}}},
     {"open_defaults", {open, P, R, #{}}},
     {"open_loopback6", {open, P, R, #{family => inet6, addr => loopback}}},
     {"open_any_udp", {open, P, R, #{type => udp, addr => any, port => 9}}},
     {"open_spec_not_map", {open, P, R, [{type, tcp}]}},
     {"open_spec_unknown_key", {open, P, R, #{type => tcp, frob => 1}}},
     {"open_spec_key_not_atom", {open, P, R, #{"type" => tcp}}},
     {"open_spec_bad_type", {open, P, R, #{type => sctp}}},
     {"open_spec_bad_family", {open, P, R, #{family => local}}},
     {"open_spec_family_mismatch", {open, P, R, #{family => inet6, addr => {127,0,0,1}}}},
     {"open_spec_addr_elem", {open, P, R, #{addr => {256,0,0,1}}}},
     {"open_spec_addr_arity", {open, P, R, #{addr => {1,2,3}}}},
     {"open_spec_addr_string", {open, P, R, #{addr => "127.0.0.1"}}},
     {"open_spec_port_range", {open, P, R, #{port => 65536}}},
     {"open_spec_port_negative", {open, P, R, #{port => -1}}},
     {"open_spec_udp_backlog", {open, P, R, #{type => udp, backlog => 5}}},
     {"open_spec_reuse_bad", {open, P, R, #{reuseaddr => yes}}},
     %% devices: as inert_fd:open/1 sends them
     {"open_tun", {open, P, R, #{type => tun, name => <<"tun0">>, pi => false}}},
     {"open_tap_any_name", {open, P, R, #{type => tap, name => <<>>, pi => true}}},
     {"open_pty", {open, P, R, #{type => pty, termios => #{speed => 115200, raw => true,
                                                          data_bits => 8, parity => none,
                                                          stop_bits => 2, flow => hardware}}}},
     {"open_pty_no_termios", {open, P, R, #{type => pty, termios => #{}}}},
     {"open_spec_tun_with_port", {open, P, R, #{type => tun, port => 1}}},
     {"open_spec_pty_bad_parity", {open, P, R, #{type => pty, termios => #{parity => mark}}}},
     {"termios", {termios, P, R, 7, #{speed => 9600, flow => software}}},
     {"termios_empty", {termios, P, R, 8, #{}}},
     {"termios_bad_speed", {termios, P, R, 7, #{speed => 0}}},
     {"termios_not_map", {termios, P, R, 7, [raw]}},
     {"io_open_stream", {io_open, P, R, 7, stream, 65536, 262144}},
     {"io_open_datagram", {io_open, P, R, 8, datagram, 1500, 1048576}},
     {"io_open_bad_type", {io_open, P, R, 7, packet, 65536, 262144}},
     {"io_credit", {io_credit, P, R, 131072}},
     {"io_send", {io_send, P, R, <<"hello">>}},
     {"io_send_empty", {io_send, P, R, <<>>}},
     {"io_close", {io_close, P, R}},
     %% malformed: decode errors
     {"bad_fdset_arity4", {fdset, P, R, 7}},
     {"bad_fdset_arity7", {fdset, P, R, 7, read, P2, extra}},
     {"bad_fdclr_dead", {fdclr, P, R, 7, read, P2}},
     {"bad_fdset_pid", {fdset, notapid, R, 7, read}},
     {"bad_fdset_ref", {fdset, P, "ref", 7, read}},
     {"bad_fdset_ref_restore", {fdset, P, restore, 7, read}},
     {"bad_fdset_gen_zero", {fdset, P, 0, 7, read}},
     {"bad_fdset_gen_negative", {fdset, P, -1, 7, read}},
     {"bad_fdset_gen_2p63", {fdset, P, 1 bsl 63, 7, read}},
     {"bad_poll_ref_integer", {poll, P, 42, 9, read}},
     {"bad_fdclr_ref_integer", {fdclr, P, 42, 12, read}},
     {"bad_cancel_ref_integer", {cancel, 42, 9}},
     {"bad_fdset_dead", {fdset, P, R, 7, read, notapid}},
     {"bad_info_arity", {info, P, R, extra}},
     {"bad_hello_arity", {hello, P, 1}},
     {"bad_dup_arity5", {dup, P, R, 7, extra}},
     {"bad_open_arity3", {open, P, R}},
     {"bad_termios_arity4", {termios, P, R, 7}},
     {"bad_cp_newowner", {controlling_process, P, R, R}},
     {"bad_io_open_arity6", {io_open, P, R, 7, stream, 65536}},
     {"bad_io_send_list", {io_send, P, R, "hello"}},
     {"bad_io_credit_atom", {io_credit, P, R, lots}},
     {"bad_unknown_op", {frobnicate, P, R}},
     {"bad_op_binary", {<<"fdset">>, P, R, 7, read}},
     {"bad_not_tuple", [fdset, P, R, 7, read]},
     {"bad_empty_tuple", {}}].

info(#{pid := P, pid2 := P2}) ->
    #{version => 2, os_pid => 4242, owner => P2,
      armed => [{7, read, P, fdset}, {9, read_write, P, poll}],
      counters => #{requests => 10, events => 3, frames => 4, errors => 1,
                    fds_received => 5, fds_closed => 2, dropped => 0}}.

entries(#{pid := P, pid2 := P2, ref := R, gen := G, gen_big := GB} = C) ->
    [{"ready", [{ready, 2, 12345, <<"/tmp/inertd-ab12/side.sock">>}]},
     {"hello", [{hello, P2, 2}]},
     {"inert_read", [{inert_read, P, 7, G}]},
     {"inert_write", [{inert_write, P, 16#7fffffff, GB}]},
     {"inert_read_ref", [{inert_read, P, 7, R}]},
     {"failed_eperm", [{failed, P, G, 7, eperm}]},
     {"failed_emfile", [{failed, P, GB, 16#7fffffff, emfile}]},
     {"failed_busy", [{failed, P, G, 7, {ebusy, P2}}]},
     {"polled", [{polled, P, R, 9, write}]},
     {"cleared_none", [{cleared, P, R, 12, none, none}]},
     {"cleared_read", [{cleared, P, R, 12, read, G}]},
     {"cleared_write", [{cleared, P, R, 12, write, GB}]},
     {"cleared_read_write", [{cleared, P, R, 12, read_write, G}]},
     {"cleared_poll", [{cleared, P, R, 12, none, R}]},
     {"cancelled", [{cancelled, R}]},
     {"closed", [{closed, P, G, 7}]},
     {"owner", [{owner, P, R, P2}]},
     {"error_ebadf", [{error, P, R, ebadf}]},
     {"error_ebadf_gen", [{error, P, G, ebadf}]},
     {"error_not_owner", [{error, P, R, not_owner}]},
     {"busy", [{error, P, R, {ebusy, P2}}]},
     {"reply_ok", [{reply, P, R, ok}]},
     {"reply_info", [{reply, P, R, info(C)}]},
     {"log_warning", [{log, warning, 1764583200123456, <<"presize fd table: invalid argument">>}]},
     {"log_info_utf8", [{log, info, 0, <<"using epoll: \"caf\x{e9}\""/utf8>>}]},
     {"multi", [{inert_read, P, 7, G},
                {inert_write, P, 7, G},
                {failed, P2, GB, 8, einval},
                {error, P2, R, einval}]}].

terms(Dir) ->
    Ints = [{"0", 0}, {"1", 1}, {"255", 255}, {"256", 256}, {"m1", -1},
            {"m128", -128}, {"m255", -255}, {"m256", -256},
            {"2p31m1", 16#7fffffff}, {"m2p31", -16#80000000},
            {"2p31", 16#80000000}, {"m2p31m1", -16#80000001},
            {"2p32", 1 bsl 32}, {"2p40", 1 bsl 40},
            {"2p63m1", (1 bsl 63) - 1}, {"m2p63", -(1 bsl 63)}],
    Atoms = [{"empty", ''}, {"ok", ok}, {"read_write", read_write},
             {"len255", list_to_atom(lists:duplicate(255, $a))},
             {"latin1", list_to_atom([$f, 16#E9, $e])},
             {"utf8", list_to_atom([16#3B1, 16#3B2])},
             {"utf8_long", list_to_atom(lists:duplicate(200, 16#E4))}],
    Bins = [{"empty", <<>>}, {"abc", <<"abc">>},
            {"300", list_to_binary(lists:seq(0, 255) ++ lists:seq(0, 43))}],
    Misc = [{"nil", []}, {"tuple0", {}}, {"tuple256", list_to_tuple(lists:seq(1, 256))},
            {"list3", [1, two, <<"3">>]}, {"map0", #{}}],
    [write(filename:join([Dir, "terms", E]), N, term_to_binary(T, Opts))
     || {E, Opts} <- encodings(),
        {N, T} <- [{"int_" ++ N, V} || {N, V} <- Ints]
                  ++ [{"atom_" ++ N, V} || {N, V} <- Atoms]
                  ++ [{"bin_" ++ N, V} || {N, V} <- Bins]
                  ++ Misc].

legacy(Dir) ->
    Node = <<100, 14:16, "legacy@oldhost">>,          % ATOM_EXT
    OldPid = <<103, Node/binary, 33:32, 1:32, 2>>,      % PID_EXT
    NewRef = <<114, 3:16, Node/binary, 1, 7:32, 8:32, 9:32>>, % NEW_REFERENCE_EXT
    OldRef = <<101, Node/binary, 77:32, 3>>,             % REFERENCE_EXT
    Reqs = [{"req_fdset_pid_ext", <<131, 104, 5, 100, 5:16, "fdset", OldPid/binary,
                                    NewRef/binary, 97, 7, 100, 4:16, "read">>},
            {"req_poll_reference_ext", <<131, 104, 6, 115, 4, "poll", OldPid/binary,
                                         OldRef/binary, 98, 1000:32, 115, 5, "write",
                                         OldPid/binary>>},
            {"req_cp_pid_ext", <<131, 104, 4, 119, 19, "controlling_process",
                                 OldPid/binary, NewRef/binary, OldPid/binary>>},
            {"pid_ext", <<131, OldPid/binary>>},
            {"new_reference_ext", <<131, NewRef/binary>>},
            {"reference_ext", <<131, OldRef/binary>>}],
    [begin _ = binary_to_term(B), write(filename:join(Dir, "legacy"), N, B) end
     || {N, B} <- Reqs],
    ok.
