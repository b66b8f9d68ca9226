#!/bin/sh
# Prints the package version from git: 1.2.3 at tag v1.2.3,
# 1.2.3+5.gabcdef0 five commits later, 0.0.0+<commits>.g<hash> before the
# first tag, with ".dirty" when the work tree has changes.
set -eu
if d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
    dirty=
    case $d in *-dirty) dirty=.dirty; d=${d%-dirty} ;; esac
    d=${d#v}
    case $d in
    *-*-g*) tag=${d%-*-g*}; rest=${d#"$tag"-}; n=${rest%%-*}; h=${rest#*-}
            echo "$tag+$n.$h$dirty" ;;
    *) echo "$d$dirty" ;;
    esac
else
    dirty=
    git diff --quiet HEAD 2>/dev/null || dirty=.dirty
    echo "0.0.0+$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)$dirty"
fi
