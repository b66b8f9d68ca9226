#!/usr/bin/env bash
# Checks the maintainer scripts of the HTCondor package in a throw-away
# $DPKG_ROOT, as root (they chgrp/chmod as root): the credential directory
# gets root:condor 2770, and a symlink the condor user put in its place
# (/var/lib/condor belongs to condor) is never followed. A host without a
# condor group gets one through stand-ins of getent and chgrp that map
# "condor" to the group "daemon".
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts-test: must run as root" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

grp=condor
if ! getent group condor >/dev/null; then
    grp=daemon
    mkdir "$tmp/bin"
    printf '#!/bin/sh\n[ "$2" = condor ] && exit 0\nexec %s "$@"\n' "$(command -v getent)" >"$tmp/bin/getent"
    printf '#!/bin/sh\nargs=""\nfor a; do [ "$a" = condor ] && a=daemon; args="$args \\"$a\\""; done\neval exec %s $args\n' "$(command -v chgrp)" >"$tmp/bin/chgrp"
    chmod +x "$tmp/bin/getent" "$tmp/bin/chgrp"
    export PATH=$tmp/bin:$PATH
fi

# 1. The real directory: root:condor 2770.
root=$tmp/r1
mkdir -p "$root/var/lib/condor/oauth_credentials"
chmod 0755 "$root/var/lib/condor/oauth_credentials"
DPKG_ROOT=$root sh packaging/scripts/condor-postinstall.sh configure
got=$(stat -c '%a %G' "$root/var/lib/condor/oauth_credentials")
[ "$got" = "2770 $grp" ] && ok "postinstall: directory $got" || bad "postinstall: directory is $got, want 2770 $grp"

# 2. A symlink in its place: the target keeps its group and mode.
root=$tmp/r2
mkdir -p "$root/var/lib/condor" "$tmp/victim"
echo secret >"$tmp/victim/shadow"
chmod 0600 "$tmp/victim/shadow"
ln -s "$tmp/victim/shadow" "$root/var/lib/condor/oauth_credentials"
DPKG_ROOT=$root sh packaging/scripts/condor-postinstall.sh configure
got=$(stat -c '%a %G' "$tmp/victim/shadow")
[ "$got" = "600 root" ] && ok "postinstall: symlink not followed" || bad "postinstall: followed a symlink, its target is now $got"

# 3. A symlink to a directory: the same.
root=$tmp/r3
mkdir -p "$root/var/lib/condor" "$tmp/victimdir"
chmod 0755 "$tmp/victimdir"
ln -s "$tmp/victimdir" "$root/var/lib/condor/oauth_credentials"
DPKG_ROOT=$root sh packaging/scripts/condor-postinstall.sh configure
got=$(stat -c '%a %G' "$tmp/victimdir")
[ "$got" = "755 root" ] && ok "postinstall: directory symlink not followed" || bad "postinstall: followed a directory symlink, its target is now $got"

# 4. preremove through a symlinked directory removes nothing there.
root=$tmp/r4
mkdir -p "$root/var/lib/condor" "$tmp/rundir"
touch "$tmp/rundir/pid" "$tmp/rundir/CREDMON_COMPLETE"
ln -s "$tmp/rundir" "$root/var/lib/condor/oauth_credentials"
DPKG_ROOT=$root sh packaging/scripts/condor-preremove.sh remove
[ -e "$tmp/rundir/pid" ] && [ -e "$tmp/rundir/CREDMON_COMPLETE" ] && ok "preremove: symlink not followed" || bad "preremove: removed files through a symlink"
root=$tmp/r5
mkdir -p "$root/var/lib/condor/oauth_credentials"
touch "$root/var/lib/condor/oauth_credentials/pid" "$root/var/lib/condor/oauth_credentials/CREDMON_COMPLETE"
DPKG_ROOT=$root sh packaging/scripts/condor-preremove.sh remove
[ ! -e "$root/var/lib/condor/oauth_credentials/pid" ] && [ ! -e "$root/var/lib/condor/oauth_credentials/CREDMON_COMPLETE" ] && ok "preremove: removes the credmon's files" || bad "preremove: left the credmon's files"

[ $fail = 0 ] || { echo "scripts-test: FAILED"; exit 1; }
echo "scripts-test: all checks passed"
