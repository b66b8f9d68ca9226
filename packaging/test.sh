#!/usr/bin/env bash
# Checks the packages that packaging/build.sh made in dist/ (make
# package-test):
#   1. reproducible: a second build from the same commit gives the same bytes;
#   2. the debs install with dpkg --root into a throw-away root, each in one
#      command over stand-ins of the packages they replace, and the installed
#      programs run there (--version, --help, the credmon on the package's
#      credential directory); purging them leaves nothing behind;
#   3. the RPMs' file lists, modes, owners, config flags, scriptlets and
#      Provides/Conflicts/Obsoletes, with rpm -qp;
#   4. man -l renders every page without warnings;
#   5. the completion scripts pass bash -n / zsh -n and complete an option.
# It needs dpkg, rpm, man-db and zsh (integration/scripts/prereqs.sh) and
# runs as root (dpkg --root sets owners).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
check() { # check <description> <command...>
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

for tool in dpkg dpkg-deb rpm man zsh gzip; do
    command -v "$tool" >/dev/null || { echo "package-test: $tool is missing (run make prereqs)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "package-test: must run as root (dpkg --root installs files owned by root)" >&2; exit 1; }

version=$(packaging/version.sh)
arch=$(go env GOARCH)
rpmarch=$(case $arch in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$arch" ;; esac)
deb_client=dist/gettoken_${version}-1_${arch}.deb
deb_condor=dist/gettoken-condor_${version}-1_${arch}.deb
rpm_client=dist/gettoken-${version}-1.${rpmarch}.rpm
rpm_condor=dist/gettoken-condor-${version}-1.${rpmarch}.rpm
for f in "$deb_client" "$deb_condor" "$rpm_client" "$rpm_condor"; do
    [ -f "$f" ] || { echo "package-test: $f missing (make package first)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 1. Reproducible --------------------------------------------------------
DIST=$tmp/again packaging/build.sh >/dev/null
for f in "$deb_client" "$deb_condor" "$rpm_client" "$rpm_condor"; do
    check "reproducible: $(basename "$f")" cmp -s "$f" "$tmp/again/$(basename "$f")"
done

# --- 2. deb: install, run, purge in a throw-away root -------------------------
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# The maintainer scripts run outside the root (there is no shell inside it)
# and find it in $DPKG_ROOT.
dpkg_root() { dpkg --root="$root" --force-script-chrootless --log=/dev/null "$@"; }

# Stand-ins of the packages ours replace, holding the files they conflict on.
standin() { # standin <name> <file>...
    local name=$1 d=$tmp/standin-$1; shift
    mkdir -p "$d/DEBIAN"
    printf 'Package: %s\nVersion: 2.6-1\nArchitecture: all\nMaintainer: test <t@t>\nDescription: stand-in\n' "$name" > "$d/DEBIAN/control"
    for f in "$@"; do mkdir -p "$d$(dirname "$f")"; echo stand-in > "$d$f"; done
    dpkg-deb --root-owner-group -b "$d" "$tmp/$name.deb" >/dev/null
}
standin htgettoken /usr/bin/htgettoken /usr/bin/htdecodetoken /usr/share/man/man1/htgettoken.1.gz
standin condor-credmon-vault /usr/sbin/condor_credmon_vault /etc/condor/config.d/40-vault-credmon.conf
dpkg_root -i "$tmp/htgettoken.deb" "$tmp/condor-credmon-vault.deb" >/dev/null
if dpkg_root -i "$deb_client" "$deb_condor" > "$tmp/install.log" 2>&1; then
    ok "dpkg -i over htgettoken and condor-credmon-vault in one command"
else
    bad "dpkg -i over the originals:"; cat "$tmp/install.log"
fi
status() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true; }
check "htgettoken stand-in removed" test "$(status htgettoken)" != "ii "
check "condor-credmon-vault stand-in removed" test "$(status condor-credmon-vault)" != "ii "
check "40-vault-credmon.conf went with it" test ! -e "$root/etc/condor/config.d/40-vault-credmon.conf"
check "gettoken installed" test "$(status gettoken)" = "ii "
check "gettoken-condor installed" test "$(status gettoken-condor)" = "ii "

# Files, links and modes in the root.
for f in usr/bin/gettoken usr/bin/htdecodetoken usr/bin/htdestroytoken usr/bin/httokensh \
         usr/bin/condor_vault_storer usr/sbin/condor_credmon_vault usr/sbin/condor_credmon_vault_keygen; do
    check "/$f is an executable file" test -f "$root/$f" -a -x "$root/$f" -a ! -L "$root/$f"
done
for l in usr/bin/htgettoken:gettoken usr/bin/httokendecode:htdecodetoken \
         usr/bin/condor_credential_storer:condor_vault_storer; do
    check "/${l%%:*} -> ${l#*:}" test "$(readlink "$root/${l%%:*}")" = "${l#*:}"
done
check "credential directory mode 2770" test "$(stat -c %a "$root/var/lib/condor/oauth_credentials")" = 2770
check "conffiles listed" test "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' gettoken-condor | awk '{print $1}' | sort | tr '\n' ' ')" = \
    "/etc/condor/config.d/50-gettoken-credmon.conf /etc/condor/config.d/50-gettoken-storer.conf "
check "packaged credmon snippet names /usr/sbin" grep -qx 'CREDMON_OAUTH = /usr/sbin/condor_credmon_vault' "$root/etc/condor/config.d/50-gettoken-credmon.conf"

# The installed programs run: exit status and the start of their help.
run() { # run <want-status> <want-text> <program> <args...>
    local want=$1 text=$2 prog=$3 out code=0; shift 3
    out=$(env -i PATH=/usr/bin:/bin HOME="$tmp" "$root$prog" "$@" 2>&1) || code=$?
    if [ "$code" = "$want" ] && [[ $out == *"$text"* ]]; then
        ok "$prog $* (exit $code)"
    else
        bad "$prog $*: exit $code, want $want and \"$text\":"; echo "$out" | head -5
    fi
}
run 0 2.6 /usr/bin/gettoken --version
run 0 2.6 /usr/bin/htgettoken --version
run 0 "Usage: gettoken [-h]" /usr/bin/gettoken --help
check "/usr/libexec/gettoken/gettoken is an executable file" test -f "$root/usr/libexec/gettoken/gettoken" -a -x "$root/usr/libexec/gettoken/gettoken"
# A run that needs Vault is the full program's: the front end hands it over.
run 1 "htgettoken: Failure getting token from https://localhost:1" /usr/bin/htgettoken -a localhost:1 --nooidc --nokerberos --nossh
run 0 "Usage: htgettoken [-h]" /usr/bin/htgettoken --help
run 1 "Usage: htdecodetoken" /usr/bin/htdecodetoken -h
run 1 "Usage: htdecodetoken" /usr/bin/httokendecode -h
run 2 "Usage: htdestroytoken" /usr/bin/htdestroytoken -h
run 0 "Usage: httokensh" /usr/bin/httokensh --help
run 1 "Usage: condor_vault_storer" /usr/bin/condor_vault_storer -h
run 1 "Usage: condor_credential_storer" /usr/bin/condor_credential_storer -h
run 0 "condor_credmon_vault - " /usr/sbin/condor_credmon_vault --help
run 0 "condor_credmon_vault_keygen - create the local SciTokens issuer" /usr/sbin/condor_credmon_vault_keygen -h

# The credmon starts on the package's credential directory, writes its pid
# and CREDMON_COMPLETE after a pass, and stops on SIGTERM.
creds=$root/var/lib/condor/oauth_credentials
env -i PATH=/usr/bin:/bin "$root/usr/sbin/condor_credmon_vault" -c "$creds" -l "$tmp/credmon.log" &
credmon=$!
for _ in $(seq 300); do
    [ -e "$creds/CREDMON_COMPLETE" ] && break
    kill -0 $credmon 2>/dev/null || break
    sleep 0.1
done
check "credmon wrote CREDMON_COMPLETE" test -e "$creds/CREDMON_COMPLETE"
check "credmon pid file" test "$(cat "$creds/pid" 2>/dev/null)" = "$credmon"
kill -TERM $credmon 2>/dev/null || true
code=0; wait $credmon || code=$?
check "credmon exits 0 on SIGTERM" test "$code" = 0 || sed 's/^/    /' "$tmp/credmon.log"

# Man pages (4) from the installed tree, and completions (5).
for page in "$root"/usr/share/man/man1/*.1.gz; do
    warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || warn="man failed $warn"
    check "man -l $(basename "$page")${warn:+: $warn}" test -z "$warn"
done
for b in gettoken htgettoken httokensh condor_vault_storer condor_credential_storer; do
    check "bash completion for $b installed" test -e "$root/usr/share/bash-completion/completions/$b"
done
for f in "$root"/usr/share/bash-completion/completions/*; do
    [ -L "$f" ] && continue
    check "bash -n $(basename "$f")" bash -n "$f"
done
for f in "$root"/usr/share/zsh/vendor-completions/*; do
    check "zsh -n $(basename "$f")" zsh -n "$f"
done
complete_words() { # complete_words <script> <function> <words...>: the completions of the last word
    bash -c '. "$1"; f=$2; shift 2; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); $f; echo "${COMPREPLY[*]}"' _ "$@"
}
bc=$root/usr/share/bash-completion/completions
check "bash completes gettoken --vaultse" test "$(complete_words "$bc/gettoken" _gettoken gettoken --vaultse)" = "--vaultserver"
check "bash completes a file after --cafile" test "$(cd "$tmp" && touch ca-test.pem && complete_words "$bc/gettoken" _gettoken gettoken --cafile ca-te)" = "ca-test.pem"
check "bash completes the storer's -v" test "$(complete_words "$bc/condor_vault_storer" _condor_vault_storer condor_vault_storer -v)" = "-v"

# Purge leaves nothing: only the dpkg database remains in the root.
dpkg_root --purge gettoken gettoken-condor htgettoken condor-credmon-vault >/dev/null 2>&1 || true
left=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -print | grep -vx -e . -e ./var -e ./var/lib || true)
check "purge leaves nothing${left:+: $left}" test -z "$left"

# --- 3. RPM metadata --------------------------------------------------------
q() { rpm -qp --nosignature "$@" 2>/dev/null; }
files() { q --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$1"; }
has() { # has <description> <text> <line-pattern>
    if grep -qxE -e "$3" <<<"$2"; then ok "$1"; else bad "$1: no line matching $3 in:"; echo "$2" | sed 's/^/    /'; fi
}
cf=$(files "$rpm_client")
for p in gettoken htdecodetoken htdestroytoken httokensh; do
    has "rpm: /usr/bin/$p 0755 root" "$cf" "-rwxr-xr-x root root +/usr/bin/$p"
    has "rpm: man page of $p" "$cf" "-rw-r--r-- root root d? */usr/share/man/man1/$p.1.gz"
done
has "rpm: /usr/libexec/gettoken/gettoken 0755 root" "$cf" "-rwxr-xr-x root root +/usr/libexec/gettoken/gettoken"
has "rpm: owns /usr/libexec/gettoken" "$cf" "drwxr-xr-x root root +/usr/libexec/gettoken"
has "rpm: htgettoken symlink" "$cf" "l[-rwx]{9} root root +/usr/bin/htgettoken"
has "rpm: httokendecode symlink" "$cf" "l[-rwx]{9} root root +/usr/bin/httokendecode"
has "rpm: zsh completion in site-functions" "$cf" "-rw-r--r-- root root +/usr/share/zsh/site-functions/_gettoken"
check "rpm: no Debian zsh path" test -z "$(grep vendor-completions <<<"$cf")"
kf=$(files "$rpm_condor")
has "rpm: /usr/bin/condor_vault_storer" "$kf" "-rwxr-xr-x root root +/usr/bin/condor_vault_storer"
has "rpm: condor_credential_storer symlink" "$kf" "l[-rwx]{9} root root +/usr/bin/condor_credential_storer"
has "rpm: /usr/sbin/condor_credmon_vault" "$kf" "-rwxr-xr-x root root +/usr/sbin/condor_credmon_vault"
has "rpm: /usr/sbin/condor_credmon_vault_keygen" "$kf" "-rwxr-xr-x root root +/usr/sbin/condor_credmon_vault_keygen"
has "rpm: credmon snippet %config(noreplace)" "$kf" "-rw-r--r-- root root cn /etc/condor/config.d/50-gettoken-credmon.conf"
has "rpm: storer snippet %config(noreplace)" "$kf" "-rw-r--r-- root root cn /etc/condor/config.d/50-gettoken-storer.conf"
has "rpm: credential directory root:condor 2770" "$kf" "drwxrws--- root condor +/var/lib/condor/oauth_credentials"
check "rpm: /var/lib/condor itself not owned" test -z "$(grep -E ' /var/lib/condor$' <<<"$kf")"
check "rpm: version from git" test "$(q --qf '%{VERSION}' "$rpm_client")" = "$version"
check "rpm: build time is the commit time" test "$(q --qf '%{BUILDTIME}' "$rpm_client")" = "$(git log -1 --format=%ct)"
rel() { q "--$1" "$2" | tr -s ' ' | sort | tr '\n' ';'; }
check "rpm: client Provides htgettoken = 2.6" grep -q 'htgettoken = 2.6;' <<<"$(rel provides "$rpm_client")"
check "rpm: client Obsoletes htgettoken" test "$(rel obsoletes "$rpm_client")" = "htgettoken;"
check "rpm: client Conflicts htgettoken" test "$(rel conflicts "$rpm_client")" = "htgettoken;"
check "rpm: condor Provides condor-credmon-vault" grep -q '^condor-credmon-vault;' <<<"$(rel provides "$rpm_condor")"
check "rpm: condor Obsoletes the originals" test "$(rel obsoletes "$rpm_condor")" = "condor-credmon-multi;condor-credmon-vault;"
check "rpm: condor Conflicts the originals" test "$(rel conflicts "$rpm_condor")" = "condor-credmon-multi;condor-credmon-vault;"
scripts=$(q --scripts "$rpm_condor")
for s in postinstall preuninstall postuninstall; do
    check "rpm: $s scriptlet" grep -q "^$s scriptlet" <<<"$scripts"
done
check "rpm: removal scriptlet clears the credmon's files" grep -q 'rm -f "$dir/pid" "$dir/CREDMON_COMPLETE"' <<<"$scripts"
check "rpm: client has no scriptlets" test -z "$(q --scripts "$rpm_client")"
check "maintainer scripts: credential directory mode, no symlink followed" packaging/scripts-test.sh

if [ $fail != 0 ]; then
    echo "package-test: FAILED"
    exit 1
fi
echo "package-test: all checks passed"
