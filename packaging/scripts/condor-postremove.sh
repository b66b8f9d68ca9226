#!/bin/sh
# After removal, the credential directory goes if it is empty (rpm removes
# an empty owned directory itself; dpkg may leave it when the scripts above
# emptied it late).
case "$1" in
0|remove|purge)
    rmdir "${DPKG_ROOT:-}/var/lib/condor/oauth_credentials" 2>/dev/null
    ;;
esac
exit 0
