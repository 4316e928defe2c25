#!/bin/sh
# scripts/check-user-projects.sh: builds user projects that depend on inert
# in each supported form and checks that each one builds, starts inert and
# gets {ok, read} from inert:poll/1 on a ready UDP socket (the mix projects
# also get {inert_read, PollId, FD} after inert:fdset/1), with inertd run
# from the project's own priv/inertd and gone once the VM exits. Where the
# application is used from its build (not from a release: a release carries
# no doc chunks), code:get_doc/1 must return the docs of inert, prim_inert
# and inert_fd (and inert_srv's as hidden), as h(inert) reads them, and in
# the mix projects Code.fetch_docs/1 too, as iex's h :inert reads them.
#
# The projects depend on a file:// clone of the repository, so they see
# the committed HEAD only: commit what you want checked. Everything runs
# offline: no Go module proxy (GOPROXY=off, an empty module cache), no hex.
# All of it happens in one temporary directory, removed at the end, with
# every VM run in the foreground under a time limit.
#
# Forms: rebar3 git_subdir (and its relx release), rebar3 _checkouts
# linking to a clone, rebar3 on the unpacked source package (make package),
# the same built without Go from INERTD=/path/to/inertd, and without Go or
# INERTD (must fail with one line saying what to install); mix git: with
# sparse: (and its mix release), with subdir:, and path: on the source
# package. The mix cases are skipped, saying so, when Elixir is absent.
set -eu

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
sha=$(git -C "$root" rev-parse HEAD)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    echo "check-user-projects: uncommitted changes are not checked (the projects see $sha)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/inert-user-projects.XXXXXX")
# cleanup: an inertd that outlived its VM (a failure, reported) is ended by
# the pid this script read; then the directory goes.
cleanup() {
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || :
        done <"$work/pids"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A user's environment: no project settings, nothing from the network.
unset ERL_COMPILER_OPTIONS INERTD ERL_LIBS
export GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
export GOMODCACHE="$work/gomodcache"
export REBAR_CACHE_DIR="$work/rebar3-cache"
export MIX_HOME="$work/mix" HEX_HOME="$work/hex" HEX_OFFLINE=1
export ELIXIR_ERL_OPTIONS=""
# A VM that crashes leaves its dump here, not in the caller's directory.
export ERL_CRASH_DUMP="$work/erl_crash.dump"

started=$(date +%s)
failures=0
passed=0
skipped=0

say() { echo "check-user-projects: $*"; }
# logname NAME: the log file of a case.
logname() { echo "$work/$(echo "$1" | tr -c 'a-zA-Z0-9\n' '-').log"; }
pass() { passed=$((passed + 1)); say "ok: $1"; }
fail() {
    failures=$((failures + 1))
    say "FAILED: $1 (log follows)"
    sed 's/^/    /' "$2" | tail -40
}

# A bare clone reached by file://, as a git host would be.
git clone -q --bare "file://$root" "$work/inert.git"
url="file://$work/inert.git"
pkg=$(sh "$root/scripts/package.sh" "$work/dist")
prebuilt=$work/prebuilt/inertd
mkdir -p "$(dirname "$prebuilt")"
(cd "$root" && CGO_ENABLED=0 go build -mod=vendor -trimpath -o "$prebuilt" ./cmd/inertd)

# path_without_go: PATH without the directories that hold a go command.
path_without_go() {
    out=""
    old_ifs=$IFS
    IFS=:
    for d in $PATH; do
        [ -x "$d/go" ] || out="$out${out:+:}$d"
    done
    IFS=$old_ifs
    echo "$out"
}

# plain LOG: the log without the terminal colour codes rebar3 writes.
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }

# run_check NAME LOG CMD...: runs the built project (CMD starts a VM whose
# application runs the check and halts), then waits for the inertd it
# reported to be gone.
run_check() {
    name=$1 log=$2
    shift 2
    if ! USERCHECK=1 timeout -k 5 120 "$@" >>"$log" 2>&1; then
        fail "$name: the check did not pass" "$log"
        return
    fi
    # rebar3 colours its output when it likes (a colour reset can start
    # the line our check prints): match on the text without them.
    pid=$(plain "$log" | sed -n 's/^usercheck: ok .*inertd os pid \([0-9]*\) .*/\1/p' | tail -1)
    if [ -z "$pid" ]; then
        fail "$name: no check result" "$log"
        return
    fi
    echo "$pid" >>"$work/pids"
    n=0
    while kill -0 "$pid" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -gt 100 ]; then
            fail "$name: inertd $pid still running 5 s after its VM exited" "$log"
            return
        fi
        sleep 0.05
    done
    pass "$name ($(plain "$log" | grep '^usercheck: ok' | tail -1 | sed 's/^usercheck: ok //'))"
}

# --- rebar3 ----------------------------------------------------------------

# new_rebar_project DIR DEPS: an OTP application r3app whose start runs
# usercheck:main/0 when USERCHECK=1, with a relx release of itself.
new_rebar_project() {
    mkdir -p "$1/src" "$1/config"
    cat >"$1/rebar.config" <<EOF
{erl_opts, [debug_info]}.
{deps, [$2]}.
{relx, [{release, {r3app, "0.1.0"}, [r3app]},
        {dev_mode, false}, {include_erts, false},
        {vm_args, "config/vm.args"}]}.
EOF
    # No distribution (no epmd left behind); relx wants a node name.
    printf -- '-sname r3app\n-start_epmd false\n-dist_listen false\n' >"$1/config/vm.args"
    cat >"$1/src/r3app.app.src" <<'EOF'
{application, r3app, [
    {description, "a user of inert"}, {vsn, "0.1.0"},
    {mod, {r3app, []}}, {applications, [kernel, stdlib, inert]}
]}.
EOF
    cat >"$1/src/r3app.erl" <<'EOF'
-module(r3app).
-behaviour(application).
-behaviour(supervisor).
-export([start/2, stop/1, init/1]).
start(_, _) ->
    case os:getenv("USERCHECK") of
        "1" -> spawn(usercheck, main, []);
        _ -> ok
    end,
    supervisor:start_link(?MODULE, []).
stop(_) -> ok.
init([]) -> {ok, {#{}, []}}.
EOF
    cat >"$1/src/usercheck.erl" <<'EOF'
-module(usercheck).
-export([main/0]).
-include_lib("kernel/include/file.hrl").
main() ->
    Code = try check() of
               ok -> 0
           catch C:E:St ->
               io:format("usercheck: failed: ~p:~p~n~p~n", [C, E, St]),
               1
           end,
    erlang:halt(Code).
check() ->
    {ok, _} = application:ensure_all_started(inert),
    {ok, S} = gen_udp:open(0, [binary, {ip, loopback}, {active, false}]),
    {ok, Port} = inet:port(S),
    {ok, C} = gen_udp:open(0, [binary, {ip, loopback}]),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, <<"ready">>),
    {ok, FD} = inet:getfd(S),
    {ok, read} = inert:poll(FD),
    #{os_pid := OsPid} = inert:info(),
    Priv = filename:join(code:priv_dir(inert), "inertd"),
    {ok, #file_info{inode = I, major_device = D}} = file:read_file_info(Priv),
    Exe = "/proc/" ++ integer_to_list(OsPid) ++ "/exe",
    {ok, #file_info{inode = I, major_device = D}} = file:read_file_info(Exe),
    Docs = docs(os:getenv("USERCHECK_DOCS")),
    io:format("usercheck: ok {ok,read} from inert:poll/1, inertd os pid ~b "
              "runs ~s, ~s~n", [OsPid, Priv, Docs]).
%% What h(inert) reads: the module docs, and inert_srv's hidden.
docs("1") ->
    {ok, {docs_v1, _, erlang, _, #{<<"en">> := _}, _, Docs} = Inert} = code:get_doc(inert),
    {_, _, _, #{<<"en">> := _}, _} = lists:keyfind({function, poll, 1}, 1, Docs),
    {ok, {docs_v1, _, _, _, #{<<"en">> := _}, _, _}} = code:get_doc(prim_inert),
    {ok, {docs_v1, _, _, _, #{<<"en">> := _}, _, _}} = code:get_doc(inert_fd),
    {ok, {docs_v1, _, _, _, hidden, _, _}} = code:get_doc(inert_srv),
    Text = unicode:characters_to_list(shell_docs:render(inert, Inert)),
    true = string:find(Text, "{inert_read, PollId, FD}") =/= nomatch,
    "code:get_doc(inert) has its docs";
docs(_) ->
    case code:get_doc(inert) of
        {ok, {docs_v1, _, _, _, #{}, _, _}} -> "the release carries doc chunks";
        _ -> "no doc chunks in the release"
    end.
EOF
}

# rebar_case NAME DIR [ENV...]: builds DIR with rebar3 and runs the check
# on the code path of the build.
rebar_case() {
    name=$1 dir=$2
    shift 2
    log=$(logname "$name")
    if ! (cd "$dir" && env "$@" rebar3 compile) >"$log" 2>&1; then
        fail "$name: rebar3 compile" "$log"
        return 1
    fi
    # The code path rebar3 built: every ebin with an .app file (a
    # git_subdir app is in lib/inert/erlang/inert/ebin, which neither
    # lib/*/ebin nor rebar3 path names).
    paths=$(find "$dir/_build/default" -path "$dir/_build/default/rel" -prune \
        -o -name '*.app' -path '*/ebin/*' -print | xargs -n1 dirname)
    # shellcheck disable=SC2086 # paths is a list
    run_check "$name" "$log" env USERCHECK_DOCS=1 erl -noshell -pa $paths \
        -eval "{ok, _} = application:ensure_all_started(r3app)"
}

p=$work/r3-git-subdir
new_rebar_project "$p" "{inert, {git_subdir, \"$url\", {ref, \"$sha\"}, \"erlang/inert\"}}"
if rebar_case "rebar3 git_subdir" "$p"; then
    log=$(logname relx)
    if (cd "$p" && rebar3 release) >"$log" 2>&1 &&
        [ -x "$p/_build/default/rel/r3app/lib/inert-"*/priv/inertd ]; then
        run_check "relx release (priv/inertd in the release)" "$log" \
            "$p/_build/default/rel/r3app/bin/r3app" foreground
    else
        fail "relx release: rebar3 release with priv/inertd" "$log"
    fi
fi

p=$work/r3-checkouts
git clone -q "$url" "$work/clone"
new_rebar_project "$p" "inert"
mkdir -p "$p/_checkouts"
ln -s "$work/clone/erlang/inert" "$p/_checkouts/inert"
rebar_case "rebar3 _checkouts (a link to a clone)" "$p" || :

mkdir -p "$work/unpacked"
tar -xzf "$pkg" -C "$work/unpacked"
unpacked=$(echo "$work/unpacked"/inert-*)
if find "$unpacked" -name inertd -type f | grep -q . ||
    find "$unpacked" -name '*.beam' | grep -q .; then
    say "FAILED: the source package $(basename "$pkg") holds built files"
    failures=$((failures + 1))
fi

p=$work/r3-package
new_rebar_project "$p" "inert"
mkdir -p "$p/_checkouts"
cp -R "$unpacked" "$p/_checkouts/inert"
rebar_case "rebar3 on the unpacked source package $(basename "$pkg")" "$p" || :

nogo=$(path_without_go)
p=$work/r3-package-inertd
new_rebar_project "$p" "inert"
mkdir -p "$p/_checkouts"
cp -R "$unpacked" "$p/_checkouts/inert"
rebar_case "rebar3 without Go, INERTD=/path/to/inertd at build time" "$p" \
    PATH="$nogo" INERTD="$prebuilt" || :

p=$work/r3-package-nothing
new_rebar_project "$p" "inert"
mkdir -p "$p/_checkouts"
cp -R "$unpacked" "$p/_checkouts/inert"
log=$(logname nothing)
name="rebar3 without Go and without INERTD"
if (cd "$p" && PATH="$nogo" rebar3 compile) >"$log" 2>&1; then
    fail "$name: the build should fail" "$log"
elif line=$(plain "$log" | grep '^inert: ') &&
    [ "$(echo "$line" | wc -l)" -eq 1 ] &&
    echo "$line" | grep -q 'needs Go .* or INERTD='; then
    pass "$name fails with: $line"
else
    fail "$name: no single line saying what to install" "$log"
fi

# --- mix -------------------------------------------------------------------

# new_mix_project DIR DEP: a mix project mixapp whose application runs
# Mixapp.Check.main/0 when USERCHECK=1, with a release of itself.
new_mix_project() {
    mkdir -p "$1/lib"
    cat >"$1/mix.exs" <<EOF
defmodule Mixapp.MixProject do
  use Mix.Project

  def project do
    [app: :mixapp, version: "0.1.0", elixir: "~> 1.14", deps: [$2],
     releases: [mixapp: [include_executables_for: [:unix]]]]
  end

  def application, do: [mod: {Mixapp.Application, []}]
end
EOF
    cat >"$1/lib/mixapp.ex" <<'EOF'
defmodule Mixapp.Application do
  use Application

  def start(_type, _args) do
    if System.get_env("USERCHECK") == "1", do: spawn(&Mixapp.Check.main/0)
    Supervisor.start_link([], strategy: :one_for_one)
  end
end

defmodule Mixapp.Check do
  require Record
  Record.defrecordp(:file_info, Record.extract(:file_info, from_lib: "kernel/include/file.hrl"))

  def main do
    code =
      try do
        check()
        0
      catch
        kind, reason ->
          IO.puts("usercheck: failed: #{Exception.format(kind, reason, __STACKTRACE__)}")
          1
      end

    System.halt(code)
  end

  defp check do
    {:ok, _} = Application.ensure_all_started(:inert)
    {:ok, s} = :gen_udp.open(0, [:binary, {:ip, :loopback}, {:active, false}])
    {:ok, port} = :inet.port(s)
    {:ok, c} = :gen_udp.open(0, [:binary, {:ip, :loopback}])
    :ok = :gen_udp.send(c, {127, 0, 0, 1}, port, "ready")
    {:ok, fd} = :inet.getfd(s)
    {:ok, :read} = :inert.poll(fd)
    :ok = :inert.fdset(fd)

    receive do
      {:inert_read, _poll_id, ^fd} -> :ok
    after
      5000 -> raise "no {:inert_read, poll_id, fd} within 5 s"
    end

    %{os_pid: os_pid} = :inert.info()
    priv = Path.join(:code.priv_dir(:inert), "inertd")
    {:ok, file_info(inode: i, major_device: d)} = :file.read_file_info(priv)
    {:ok, file_info(inode: ^i, major_device: ^d)} = :file.read_file_info("/proc/#{os_pid}/exe")
    IO.puts("usercheck: ok {ok,read} from :inert.poll/1 and {:inert_read, _, fd}, inertd os pid #{os_pid} runs #{priv}, #{docs(System.get_env("USERCHECK_DOCS"))}")
  end

  # What h(:inert) reads in erl (:code.get_doc/1) and in iex (Code.fetch_docs/1).
  defp docs("1") do
    for m <- [:inert, :prim_inert, :inert_fd] do
      {:ok, {:docs_v1, _, :erlang, _, %{"en" => _}, _, _}} = :code.get_doc(m)
      {:docs_v1, _, :erlang, _, %{"en" => _}, _, _} = Code.fetch_docs(m)
    end

    {:docs_v1, _, _, _, %{"en" => _}, _, docs} = Code.fetch_docs(:inert)
    {_, _, _, %{"en" => _}, _} = List.keyfind(docs, {:function, :poll, 1}, 0)
    {:docs_v1, _, _, _, :hidden, _, _} = Code.fetch_docs(:inert_srv)
    "code:get_doc(inert) and Code.fetch_docs(:inert) have its docs"
  end

  defp docs(_) do
    case Code.fetch_docs(:inert) do
      {:docs_v1, _, _, _, %{}, _, _} -> "the release carries doc chunks"
      _ -> "no doc chunks in the release"
    end
  end
end
EOF
}

# mix_case NAME DIR: fetches, builds and runs DIR with mix.
mix_case() {
    name=$1 dir=$2
    log=$(logname "$name")
    if ! (cd "$dir" && mix deps.get && mix compile) >"$log" 2>&1; then
        fail "$name: mix deps.get, compile" "$log"
        return 1
    fi
    run_check "$name" "$log" env USERCHECK_DOCS=1 sh -c 'cd "$1" && exec mix run --no-halt' sh "$dir"
}

if ! command -v mix >/dev/null 2>&1; then
    say "SKIPPED the mix cases: Elixir is not installed (scripts/install-deps.sh could not install Debian's elixir)"
    skipped=4
else
    # mix builds a rebar3 dependency with the rebar3 it is given, offline.
    log=$work/mix-local-rebar.log
    if ! mix local.rebar rebar3 "$(command -v rebar3)" --force >"$log" 2>&1; then
        fail "mix local.rebar rebar3 $(command -v rebar3)" "$log"
    fi

    p=$work/mix-sparse
    new_mix_project "$p" "{:inert, git: \"$url\", ref: \"$sha\", sparse: \"erlang/inert\"}"
    if mix_case "mix git: sparse:" "$p"; then
        log=$work/mix-release.log
        if (cd "$p" && MIX_ENV=prod mix release --quiet) >"$log" 2>&1 &&
            [ -x "$p/_build/prod/rel/mixapp/lib/inert-"*/priv/inertd ]; then
            run_check "mix release (priv/inertd in the release)" "$log" \
                env RELEASE_DISTRIBUTION=none "$p/_build/prod/rel/mixapp/bin/mixapp" start
        else
            fail "mix release with priv/inertd" "$log"
        fi
    fi

    p=$work/mix-subdir
    new_mix_project "$p" "{:inert, git: \"$url\", ref: \"$sha\", subdir: \"erlang/inert\"}"
    mix_case "mix git: subdir:" "$p" || :

    p=$work/mix-path-package
    new_mix_project "$p" "{:inert, path: \"$unpacked\"}"
    mix_case "mix path: on the unpacked source package" "$p" || :
fi

say "ran in $(($(date +%s) - started)) s"
say "$passed passed, $failures failed, $skipped skipped"
[ "$failures" -eq 0 ]
