#!/bin/sh
# The credential directory belongs to root:condor, mode 2770, as HTCondor
# makes it. The condor group comes with HTCondor, which may be installed
# after this package; the credmon keeps the mode when it finds the group.
dir=${DPKG_ROOT:-}/var/lib/condor/oauth_credentials
if getent group condor >/dev/null 2>&1; then
    chgrp condor "$dir" && chmod 2770 "$dir"
fi
exit 0
