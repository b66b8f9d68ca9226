#!/bin/sh
# The credential directory belongs to root:condor, mode 2770, as HTCondor
# makes it. The condor group comes with HTCondor, which may be installed
# after this package; the credmon keeps the mode when it finds the group.
# /var/lib/condor belongs to the condor user, who can put a symlink in the
# directory's place: the change is made on "." after entering the
# directory, and only when that is the directory itself, so that root
# never gives the condor group a file or directory a symlink points at.
parent=$(cd -P "${DPKG_ROOT:-}/var/lib/condor" 2>/dev/null && pwd -P) || exit 0
if getent group condor >/dev/null 2>&1 && cd -P "$parent/oauth_credentials" 2>/dev/null &&
    [ "$(pwd -P)" = "$parent/oauth_credentials" ]; then
    chgrp condor . && chmod 2770 .
fi
exit 0
