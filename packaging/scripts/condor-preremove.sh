#!/bin/sh
# On removal (not on upgrade: rpm passes 1, dpkg "upgrade"), remove what the
# credmon (pid, CREDMON_COMPLETE, CREDMON_STATUS) and the web app (its
# session key) wrote in the credential directory, so that the directory
# goes with the package when no credentials are left in it. Credentials
# (the users' directories, written by the credd) are never touched. The
# files are removed from "." after entering the directory, and only when
# that is the directory itself, not where a symlink the condor user put in
# its place (/var/lib/condor is condor's) points.
case "$1" in
0|remove|purge)
    parent=$(cd -P "${DPKG_ROOT:-}/var/lib/condor" 2>/dev/null && pwd -P) || exit 0
    dir=.
    cd -P "$parent/oauth_credentials" 2>/dev/null && [ "$(pwd -P)" = "$parent/oauth_credentials" ] &&
        rm -f "$dir/pid" "$dir/CREDMON_COMPLETE" "$dir/CREDMON_STATUS" "$dir/webserver_session_key"
    ;;
esac
exit 0
