#!/bin/sh
# On removal (not on upgrade: rpm passes 1, dpkg "upgrade"), remove what the
# credmon itself wrote in the credential directory, so that the directory
# goes with the package when no credentials are left in it. Credentials
# (the users' directories, written by the credd) are never touched.
case "$1" in
0|remove|purge)
    dir=${DPKG_ROOT:-}/var/lib/condor/oauth_credentials
    rm -f "$dir/pid" "$dir/CREDMON_COMPLETE"
    ;;
esac
exit 0
