#!/usr/bin/env bash
# Install everything the integration tests need, idempotently:
#   - Debian packages: MIT KDC + admin tools + client tools, slapd + ldap-utils,
#     hyperfine (benchmarks), XRootD with its HTTP and SciTokens plugins
#     (the transfer plugin's storage server), and for the Kerberos cache tests both KCM servers
#     (heimdal-kcm and sssd-kcm install side by side; the tests run each in its
#     own mount namespace) and keyutils, chromium (the web application's browser
#     tests), rpm, man-db and zsh (package checks);
#   - the OpenID provider's npm packages (npm ci in integration/idp);
#   - the Vault server binary (scripts/build-vault.sh, cached).
# Prints "GETTOKEN_VAULT_BIN=<path>" last, for the Makefile to export.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

need_pkgs=()
for pair in krb5kdc:krb5-kdc kadmin.local:krb5-admin-server kinit:krb5-user \
            slapd:slapd ldapwhoami:ldap-utils hyperfine:hyperfine xrootd:xrootd-server \
            chromium:chromium rpm:rpm man:man-db zsh:zsh; do
  cmd=${pair%%:*} pkg=${pair#*:}
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
for pair in libXrdHttp-5.so:xrootd-server-plugins libXrdAccSciTokens-5.so:xrootd-scitokens-plugins; do
  lib=${pair%%:*} pkg=${pair#*:}
  compgen -G "/usr/lib*/$lib" >/dev/null || compgen -G "/usr/lib*/*/$lib" >/dev/null || need_pkgs+=("$pkg")
done
for pair in /usr/sbin/kcm:heimdal-kcm /usr/libexec/sssd/sssd_kcm:sssd-kcm /usr/bin/keyctl:keyutils; do
  file=${pair%%:*} pkg=${pair#*:}
  [ -x "$file" ] || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "prereqs: missing Debian packages ${need_pkgs[*]} and not root to install them" >&2
    exit 1
  fi
  echo "prereqs: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # slapd without a configured database: the harness runs its own slapd.conf.
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

if [ ! -d "$here/idp/node_modules" ] || [ "$here/idp/package-lock.json" -nt "$here/idp/node_modules/.package-lock.json" ]; then
  echo "prereqs: npm ci in integration/idp" >&2
  (cd "$here/idp" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

bin=$("$here/scripts/build-vault.sh")
echo "GETTOKEN_VAULT_BIN=$bin"
