// Package credmon is the HTCondor credential monitor daemon
// (condor_credmon_vault): it follows the credential directory, has the
// providers turn the credentials in .top files into access tokens, and
// writes those to .use files. It can replace HTCondor's whole Python
// "multi" credmon (condor_credmon_oauth): Vault, OAuth refresh-token,
// local-issuer and client-credentials credentials are served by one
// process, each by its Provider. This package is the daemon core; the
// providers live in vault.go, oauth.go, local.go and client.go, and
// DefaultProviders lists them.
//
// # The daemon core, for other credmons
//
// What is shared (directory walk, scheduler, worker pool, signals, pid
// file, CREDMON_COMPLETE, log, one batch of knobs) is reached through
// Main; what differs is a Program and a list of ProviderFactory:
//
//	func main() {
//		os.Exit(credmon.Main(context.Background(), os.Args, credmon.MainOptions{
//			Program:   credmon.Program{Name: "condor_credmon_x", Usage: "...",
//				DefaultName: "CREDMON_X", CredDirKnobs: []string{"SEC_CREDENTIAL_DIRECTORY_X"}},
//			Providers: []credmon.ProviderFactory{{Class: credmon.ClassVault, Knobs: ..., New: newX}},
//		}))
//	}
//
// A ProviderFactory names the class it serves, the knobs it reads (added
// to the start-up batch) and New, which gets a ProviderEnv (daemon name,
// credential directory, Knobs, a logger prefixed with the class, the
// Classifier). The Provider it returns implements Kind, Refresh and
// NextRefresh (see Provider): Refresh runs on a worker within a deadline
// and gets the Cred with Dir, the user directory handle through which it
// must read any sibling file (with tokenfile.Checks); the daemon writes
// what it returns (Refreshed.Use, and Refreshed.Top for a rotated
// secret) and removes the credential for ErrDelete. NextRefresh runs on
// the daemon's own goroutine: it must not block (no network, no
// condor_config_val; reading through Cred.Dir with checks is fine).
// PerName multiplexes a class over provider names, building each name's
// provider on first use within the refresh's context. Daemon (New, Run,
// Rescan) is the core without the process, for tests and embedding.
//
// Still specific to the OAuth credential directory: the walk serves
// <root>/<user>/<name>.top into <name>.use, and the class of a file is
// decided by the multi credmon's Classifier. A daemon with another
// layout (the Kerberos credmon's flat <user>.cred into <user>.cc) needs
// the walk's suffixes and depth, and the classifier, to become Config
// fields; the scheduler, pool, writes and process need no change.
//
// # Process contract
//
// Main implements the process the condor_master starts as CREDMON_OAUTH:
//
//		condor_credmon_vault [-n|--name NAME] [-c|--cred-dir DIR] [-l|--log-file FILE] [-d|--debug] [-v|--verbose]
//
//	  - NAME (default CREDMON_OAUTH) prefixes the knobs <NAME>_LOG,
//	    MAX_<NAME>_LOG and <NAME>_DEBUG, as given (HTCondor knobs are
//	    case-insensitive).
//	  - Configuration: every knob the daemon and its providers need is read
//	    in ONE batch at start-up (_CONDOR_<KNOB> environment overrides, then
//	    one condor_config_val run; when condor_config_val is not installed,
//	    only the environment counts, with a warning). The
//	    <PROVIDER>_CLIENT_ID knobs of provider names met for the first time
//	    are read in one batch per pass. Nothing is re-read later: as in the
//	    original, changing the configuration needs a restart, and SIGHUP
//	    (sent by condor_reconfig) only triggers a rescan.
//	  - Credential directory: -c, else SEC_CREDENTIAL_DIRECTORY_OAUTH, else
//	    SEC_CREDENTIAL_DIRECTORY. Created with mode 02770 if missing. The
//	    daemon refuses to start (exit 1, one error line) if any "other"
//	    permission bit is set or if it cannot read, write and search it.
//	  - Logging: -l, else <NAME>_LOG, else $(LOG)/<CamelName>Log (for
//	    CREDMON_OAUTH: CredmonOauthLog; HTCondor's OAUTH feature sets
//	    CREDMON_OAUTH_LOG itself). Lines look like HTCondor's dprintf:
//	    "MM/DD/YY HH:MM:SS message", warnings "WARNING: ", errors "ERROR: ",
//	    provider messages prefixed with the provider's kind ("VAULT: ",
//	    "WARNING: VAULT: "); messages are constant texts followed by
//	    key=value attributes ("Successfully refreshed token user=alice
//	    token=dune"). The file is opened relative to its directory, never
//	    through a symlink, FIFO or hard link, never another user's; new
//	    files get mode 0640 (LogMode) and an existing one readable by
//	    others is made private. The file is rotated as HTCondor rotates daemon
//	    logs: past MAX_<NAME>_LOG bytes (else MAX_DEFAULT_LOG, else 10 MiB;
//	    units K, M, G accepted; 0 disables rotation) it is renamed to
//	    <file>.old. -v also logs to stderr; -d (or D_FULLDEBUG or D_ALL in
//	    <NAME>_DEBUG) adds debug messages. A log file that cannot be opened
//	    is exit 44 (the master's code for a logging error) unless -v is
//	    given, in which case the daemon logs to stderr only. No token,
//	    refresh token or .top content is ever logged: messages name files,
//	    users and token names only.
//	  - Start-up checks of HTCondor 25.13's multi credmon: a provider list
//	    naming a provider with characters other than letters, digits and
//	    '-' (unless CREDMON_ALLOW_SPECIAL_CHAR_NAMES) is exit 99
//	    (DAEMON_NO_RESTART); a name in two lists is a warning.
//	  - One process, no fork (the Python credmon forks a scan child and
//	    writes the parent's pid): signal handlers are installed, then
//	    <dir>/pid is written (the decimal pid, no newline, atomically, mode
//	    0644), then CREDMON_COMPLETE is removed and the loop starts.
//	  - SIGHUP: a (quick) pass now; the credd sends it when it stores a
//	    .top that has no .use yet. SIGTERM, SIGINT, SIGQUIT: no new refresh is started, the
//	    refreshes in progress finish (each within its 30 s timeout) and are
//	    written, and the process exits 0.
//	  - CREDMON_COMPLETE is touched (created or its times updated, never
//	    through a symlink) after every pass over the whole directory (deep
//	    or quick; not after the inotify-driven listings of single user
//	    directories), once the listing is done and every refresh it made
//	    due has finished and been written.
//	  - Exit statuses: 0 after SIGTERM/SIGINT/SIGQUIT or -h, 1 for a
//	    configuration, credential directory, pid file or provider set-up
//	    error, 2 for a bad command line, 44 for the log file, 99 for the
//	    provider lists.
//
// # Which provider serves a .top
//
// See Classifier: exactly the multi credmon's rules (VAULT_, OAUTH2_,
// LOCAL_ and CLIENT_CREDMON_PROVIDER_NAMES, LOCAL_CREDMON_PROVIDER_NAME,
// <provider>_CLIENT_ID, CREDMON_ALLOW_SPECIAL_CHAR_NAMES; the provider
// name is the text before the first '_', as in 25.13), with one owner per
// file. A .top that nobody serves is skipped with one warning per change
// of the file, not one per pass as in the original.
//
// # Passes and scheduling
//
// A pass lists <dir>/*/*.top with getdents (no glob) and one fstatat per
// .top; .use files are known from the listing. Names with characters
// other than letters, digits and - + = _ ., symlinks, directories and
// other non-regular files, files owned by neither root nor the daemon,
// empty files and files over 1 MiB are skipped with one warning per
// change of the file (path, inode, size and times), and affect nothing
// else; so are user directories that are symlinks or have bad names.
//
//   - A deep pass lists every user directory: at start-up, after an
//     inotify queue overflow, and at the first pass 10 minutes or more
//     after the previous deep one. The start-up pass lists in parallel
//     and seeds each credential's due time from its existing .use: Vault
//     credentials first from the .use's age (a stat, no read), then, after
//     the first CREDMON_COMPLETE, from the token's expiry (each .use read
//     once); the other providers' .use files are read in the first pass.
//   - A quick pass (every 60 s as the original, a safety net; on SIGHUP)
//     lists only the user directories whose own inode, mtime or ctime
//     changed since they were last listed (or changed within a second of
//     that listing): storing, re-storing (the credd always renames),
//     removing a .top or .use changes them. An idle quick pass costs one
//     fstatat per user: about 30 ms for 10,000 users.
//   - inotify (fsnotify) watches the root and every user directory: a
//     stored or re-stored .top is served within about 50 ms (debounce),
//     by listing only that user's directory. The directories found at
//     start-up are watched once the first pass is complete (so the first
//     CREDMON_COMPLETE is not delayed by 10,000 inotify_add_watch calls),
//     followed by a quick pass for whatever changed meanwhile. If inotify
//     is not available, or a watch cannot be added
//     (fs.inotify.max_user_watches), that is logged once and the 60 s
//     pass and SIGHUP do the work, as in the original.
//
// In memory the daemon keeps, per .top, its class, its file signature, a
// due time, a failure count and a few flags, and per user directory its
// signature (a few hundred bytes per user; no goroutine per credential;
// about 22 MiB of RSS for 10,000 users, 11 MiB of which is the binary).
// An idle pass parses nothing. A credential is due:
//
//   - at once when it is new and its .use is missing or older (ctime) than
//     its .top, when its .top changes (re-stored by the credd), or when its
//     .use disappears;
//   - at start-up, for a .use that is already there, at the time the
//     provider's NextRefresh gives for it (each .use is read once);
//   - after a successful refresh, at NextRefresh minus a random jitter of
//     up to 10% of the interval (earlier, never later, than the provider
//     asked), but never sooner than 60 s after the write;
//   - after a failure, after an exponential back-off: 30 s doubling up to
//     30 min, plus up to 10% jitter; a success or a new .top resets it.
//
// ErrInvalid (and a .top that became unreadable) parks the credential
// until its .top changes. ErrDelete removes its .top and .use (unless the
// .top was re-stored meanwhile), then makes due at once the credentials
// whose parent (the name up to the last '_') it was, so the provider
// reports them in the same pass. Nothing else ever removes or truncates a
// .use: a failed refresh leaves the old one in place.
//
// Refreshes run on a bounded pool of workers: CREDMON_MAX_CONCURRENT_REFRESHES
// (default 32, at most 1024) at once, each Provider.Refresh with a 30 s
// context timeout; a provider that ignores its context is abandoned 5 s
// later and one that panics is a failure. New and changed .top files go
// to the head of the queue, before overdue refreshes.
//
// # Writes
//
// One goroutine (the daemon's loop) writes every result, through the
// user directory handle the worker opened (tokenfile.Dir: openat,
// renameat, unlinkat; a user directory swapped for a symlink meanwhile
// changes nothing): a rotated .top first (mode 0600, file and directory
// fsynced), then the .use (mode 0400, not synced), each atomically, owned by root (0:0) when the daemon runs as
// root, else by the daemon's uid. The temporary file is created in the
// user's directory, next to the target, and renamed over it: the rename
// stays within one directory (atomic, and it replaces a symlink rather
// than following it), a crash leaves a stray temporary file
// (".<name>.tmp<16 hex digits>") in the user's directory, removed the
// next time the directory is listed, and never one in the credential
// root (the Python credmon creates its temporary files in the
// root and leaks them there when a rename fails). A .top re-stored while
// its refresh was running is never overwritten: the refresh is redone.
//
// # What is not done
//
//   - DC_SET_READY is not sent to the condor_master once CREDMON_COMPLETE
//     exists (the Python credmon does; nothing in HTCondor waits for it
//     for OAuth credentials, and the master only logs its absence).
//   - No fork: the pid file holds the one process's pid.
//   - The OAuth credmon's sweeping of 64-hex-character web-flow key files
//     older than 12 h, and the creation of the local issuer's key pair,
//     are left to the OAuth and local providers (they are not part of the
//     scan loop here).
//   - The configuration is not re-read on SIGHUP (as the original).
//   - MAX_NUM_<NAME>_LOG and time-based rotation are not supported: one
//     .old file, size-based only.
package credmon
