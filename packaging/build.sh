#!/bin/sh
# Builds the RPM and deb packages into dist/ (make package):
#   gettoken          the client programs under their htgettoken names
#   gettoken-condor   the HTCondor storer and credential monitor
# The contents come from packaging/programs.tsv. The version comes from git
# (packaging/version.sh) and every timestamp from the last commit
# (SOURCE_DATE_EPOCH), so the same commit gives the same bytes.
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
ARCH=${ARCH:-$($GO env GOARCH)}
VERSION=${VERSION:-$(packaging/version.sh)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
DIST=${DIST:-dist}
export ARCH VERSION SOURCE_DATE_EPOCH

build=build/pkg
rm -rf "$build" build/man
mkdir -p "$build/bin" "$DIST"
rm -f "$DIST"/gettoken-*.rpm "$DIST"/gettoken_*.deb "$DIST"/gettoken-condor_*.deb

# The programs: static, without paths of this machine in them.
progs=$(awk '!/^#/ && NF && ($2 == "bin" || $2 == "bin?") {print $3}' packaging/programs.tsv)
pkgs=
for p in $progs; do
    [ -d "cmd/$p" ] && pkgs="$pkgs ./cmd/$p"
done
gobuild() { CGO_ENABLED=0 $GO build -trimpath -buildvcs=false -ldflags '-s -w -buildid=' "$@"; }
gobuild -o "$build/bin/" $pkgs
# gettoken as the Makefile builds it: bin/gettoken is the front end, which
# runs the full program from ../libexec/gettoken/.
mkdir -p "$build/libexec"
gobuild -o "$build/libexec/gettoken" ./cmd/gettoken
gobuild -tags gettoken_front -o "$build/bin/gettoken" ./cmd/gettoken

# Man pages and completions from the programs' own definitions.
built=
for p in $pkgs; do built="$built ${p#./cmd/}"; done
$GO run ./internal/cmd/mangen -bin "$build/bin" -out build/man -version "$VERSION" $built
for f in build/man/man1/*.1; do
    gzip -9nf "$f"
done

# The credmon snippet as packaged: the credmon is in /usr/sbin here.
sed 's|^CREDMON_OAUTH = .*|CREDMON_OAUTH = /usr/sbin/condor_credmon_vault|' \
    configs/50-gettoken-credmon.conf > "$build/50-gettoken-credmon.conf"

nfpm() { $GO tool -modfile=tools/go.mod nfpm "$@"; }
for pkg in client condor; do
    case $pkg in client) name=gettoken ;; condor) name=gettoken-condor ;; esac
    $GO run ./internal/cmd/nfpmconf -table packaging/programs.tsv -package $pkg \
        -meta packaging/$name.yaml -bin "$build/bin" -libexec "$build/libexec" -man build/man -cmd cmd > "$build/$name.yaml"
    for fmt in rpm deb; do
        nfpm package --config "$build/$name.yaml" --packager $fmt --target "$DIST/" >/dev/null
    done
done
ls -1 "$DIST"
