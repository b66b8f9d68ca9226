// Package condor runs faithful stand-ins for the parts of HTCondor that
// gettoken's condor_vault_storer and credmon talk to, for integration
// tests (HTCondor itself cannot be installed here):
//
//   - condor_credd (cmd/condor_credd, logic in package credd): runs as
//     root, listens on the Unix socket CREDD_SOCKET (mode 0666),
//     authenticates each client by SO_PEERCRED and carries out STORE_CRED
//     for OAuth credentials on SEC_CREDENTIAL_DIRECTORY_OAUTH exactly as
//     the real credd does (condor.md §2, §4.6, §4.8): user directory 0700,
//     <name>.top written as <name>.top.tmp (0600, root) then renamed, bytes
//     verbatim or re-serialised with scopes/audience for -S/-A,
//     TRUSTED_VAULT_HOSTS, the name rules, CRED_SUPER_USERS, the .mark
//     unlink and sweep, and the SIGHUP to the pid in <creddir>/pid
//     (cached 20 s) when <name>.use is missing. Every request is logged to
//     CREDD_LOG without its payload.
//   - condor_store_cred (cmd/condor_store_cred, logic in package
//     storecred): the real tool's command line (add|query|delete with
//     -oauth, -oath or -scitokens; -s -H -S -A -i -P -u -n -d -h), its
//     stdout ("Account: <current> (<user>)", "CredType: oauth", the result
//     messages, the "Credential info" block), its stderr messages and its
//     exit codes (0 success or pending, 2 scopes/audience mismatch, 1
//     anything else, including an unreachable credd).
//   - condor_submit (cmd/condor_submit): only the OAuth credential check
//     of a submit file (use_oauth_services, <svc>_oauth_permissions[_h],
//     <svc>_oauth_resource[_h]) through CREDD_CHECK_CREDS, printing the
//     "Hellow, <user>. Please visit: <URL>" greeting (exit 1) as the real
//     tool does; nothing is ever queued. The credd writes the key file
//     <creddir>/<64 hex> (0640) exactly as credd.cpp does.
//   - condor_config_val (cmd/condor_config_val, configuration in package
//     config): `condor_config_val KNOB...` (values on stdout; an undefined
//     or empty knob gives "Not defined: KNOB" on stderr and exit status 1,
//     the other knobs are still printed) and `condor_config_val -dump`,
//     from the file CONDOR_CONFIG names overridden by _CONDOR_<KNOB>.
//
// Start builds the tools, writes the configuration, creates the credential
// directory and starts the daemon; Condor.Env is what a client process
// (the storer, as any uid) needs in its environment.
//
// # Deviations from HTCondor
//
// Architecture and transport:
//   - The credd is reached on a Unix socket named by the stand-in knob
//     CREDD_SOCKET with a JSON request/reply, not through CEDAR, the
//     collector, CREDD_HOST or a schedd; -n <name> is accepted and logged
//     but every request goes to the same credd. Authentication is
//     SO_PEERCRED only (no SEC_* methods, no encryption).
//   - A uid without a passwd entry authenticates as "u<uid>"; the tool's
//     "Account: <current> (...)" line shows the same name (the real
//     my_username() would print "(null)").
//   - root may act for any user with -u (the real credd requires root to
//     be listed in CRED_SUPER_USERS); a user may always name itself.
//   - The daemon runs as root throughout, so the per-user directory is
//     root-owned (the real credd creates it with its own euid, normally
//     condor). Modes are as in HTCondor.
//
// STORE_CRED semantics:
//   - CredSorter is not implemented: every name is treated as a Vault/.top
//     credential unless -P is given (then <name>.use is written, and the
//     answer is its mtime). A query finding only <name>.use succeeds (as
//     condor.md §4.8 states) whatever the name's type.
//   - A successful query answers with the .use mtime, so the tool prints
//     "A credential was stored on <date> and is valid."; a pending query
//     prints "A credential was stored on <date of .top> and is waiting for
//     processing." (condor.md §4.8 wording; the 24.x code printed no date).
//   - -S/-A re-serialisation uses Go's encoder: keys sorted, two-space
//     indent, "/" not escaped, final newline (HTCondor's ClassAd unparser
//     may order or escape differently; the spec leaves order unspecified).
//   - Credentials over 1 MiB are refused by both the tool ("larger than
//     1048576 bytes", exit 1) and the credd (FAILURE_BAD_ARGS); the real
//     tool silently truncates stdin at 16 MiB. An empty credential is not
//     sent ("Operation failed: unknown error code -1", exit 1, as the real
//     tool does).
//   - add-oauth without -s is refused by the tool ("ERROR: add-oauth
//     requires a service name argument (-s)"; the exact 25.x wording is
//     unknown).
//   - An unreachable credd additionally prints "STORE_CRED: Failed to start
//     STORE_CRED command. Unable to contact ..." on stderr (the real tool
//     shows it only with -d); stdout and the exit status are the real
//     ones ("Operation failed." + the ALLOW_WRITE hint, exit 1).
//   - The "Credential info" block lists fully_qualified_user first, then
//     the query's time attributes (HTCondor prints the ClassAd in hash
//     order).
//   - The numeric code of FAILURE_UNTRUSTED_HOST (14) is the stand-in's;
//     its message is the real one.
//   - A failed read of <creddir>/pid is retried on the next wake-up (only
//     a successfully read pid is cached for 20 s); a pid <= 1 is refused.
//   - Password and Kerberos credentials (add, add-pwd, add-krb, -c, -f) are
//     not supported (exit 1 with a message).
//   - The credd re-reads its configuration on SIGHUP (condor_reconfig); the
//     sweep interval is fixed at start-up.
//   - CREDD_CHECK_CREDS (mode "check", condor_submit's check) classifies a
//     name as OAuth2 only by <SVC>_CLIENT_ID / OAUTH2_CREDMON_PROVIDER_NAMES
//     and ignores every other name (no Vault, local-issuer or Kerberos
//     handling, no wait for local credentials); a failed key-file write
//     is an error reply (the real credd answers empty). The mismatch text
//     is close to, not exactly, the real one.
//
// Configuration (package config): one file, no `use`/`include`/`if`
// statements or `@=` values (they are errors); `$(KNOB)`,
// `$(KNOB:default)`, `$ENV(VAR)` and self-reference are expanded (in
// _CONDOR_ values too, which are trimmed; the last of several matching
// variables wins); there are no built-in defaults (an unset knob is
// undefined). -dump prints only `KNOB = value` lines (expanded values, no
// header, no defaults) and takes optional substrings instead of regular
// expressions. Other condor_config_val options are refused. The plain
// query mode is exactly the contract internal/htcondor documents and
// relies on.
package condor
