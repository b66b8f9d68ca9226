// Package htcondor is the one place where gettoken's condor_vault_storer
// and Vault credmon talk to HTCondor's command-line tools: it reads
// configuration knobs through condor_config_val and stores or queries OAuth
// credentials through condor_store_cred. Every tool is run through an
// injectable runner, with a context timeout (10 s by default).
//
// # Configuration (condor_config_val)
//
// [Config.Get] resolves a set of knobs as HTCondor does:
//
//  1. Environment overrides. An environment variable named _CONDOR_<KNOB>
//     overrides the configuration files. As in HTCondor, both the _CONDOR_
//     prefix and the knob name are matched case-insensitively, so
//     _condor_sec_credential_storer overrides SEC_CREDENTIAL_STORER. When
//     several variables match, the last one in the environment wins. The
//     value is trimmed of surrounding white space and is not macro-expanded.
//     An empty value makes the knob undefined (HTCondor's param() treats an
//     empty value as undefined), without asking condor_config_val.
//  2. Every remaining knob is asked of condor_config_val in ONE invocation.
//     Knobs that are undefined (or defined as empty) are absent from the
//     returned map; that is not an error.
//
// If every knob is overridden by the environment, condor_config_val is not
// run at all, so the tools need not be installed.
//
// The invocation and output format relied upon (condor_config_val's plain
// query mode, unchanged since HTCondor 8; a stand-in must implement exactly
// this):
//
//	condor_config_val KNOB1 KNOB2 ... KNOBn
//
// where:
//
//   - arguments: the knob names exactly as the caller spelled them, in the
//     caller's order, each once (duplicates are removed case-insensitively);
//     no options;
//   - for each argument, in order: if the knob is defined with a non-empty
//     value, its macro-expanded value followed by a newline on stdout;
//     otherwise the line "Not defined: KNOB" on stderr (the real tool
//     upper-cases the name; the name is matched case-insensitively);
//   - exit status 0 when every knob is defined, 1 when at least one is not.
//
// Any other exit status, or exit status 1 without a single "Not defined:"
// line, is a *ConfigError. Other stderr lines (warnings) are ignored. Values
// are trimmed of surrounding white space (HTCondor strips it when it reads
// a configuration file) and a trailing carriage return is dropped.
//
// Multi-line values (HTCondor's "@=" syntax) make the stdout lines
// ambiguous. The defined knobs are the arguments minus the "Not defined"
// ones; when exactly one knob is defined, the whole of stdout is its value;
// when the number of stdout lines equals the number of defined knobs, line i
// is the value of the i-th defined knob; otherwise each defined knob is
// asked again in an invocation of its own ("condor_config_val KNOB"), whose
// whole stdout is the value. So a stand-in needs no special case for them.
//
// Knob names must consist of ASCII letters, digits, '_' and '.'
// (HTCondor's SUBSYS.KNOB form); anything else, and the word "use" (a
// condor_config_val keyword), is refused before any tool runs, so a knob can
// never be taken for an option.
//
// condor_config_val is looked up on $PATH, then in /usr/bin, /usr/sbin, /bin
// and /sbin. When it cannot be found, Get returns a *NotInstalledError,
// which matches [ErrNotInstalled] with errors.Is.
//
// # Credentials (condor_store_cred)
//
// [StoreCred] runs condor_store_cred with exactly the argument order of
// HTCondor's own storer:
//
//	condor_store_cred add-oauth   [-u USER] -s NAME [EXTRA...] [-S SCOPES] [-A AUDIENCE] -i -
//	condor_store_cred query-oauth [-u USER] -s NAME [EXTRA...] [-S SCOPES] [-A AUDIENCE]
//
// where EXTRA are the words of the SEC_CREDENTIAL_STORECRED_OPTS environment
// variable and -S/-A are left out when empty. The credential (see
// [BuildPayload]) is only ever written to the tool's stdin, never to its
// command line, an error message or a log line. condor_store_cred is looked
// up on $PATH, then in /usr/sbin.
//
// query-oauth exit statuses are interpreted as follows. This deliberately
// differs from the original storer, which took every exit status 1 (for
// example a credd that is down) for "not stored" and forced a new login:
//
//   - 0: [Stored] (the credd has the .top file, even if the credmon has not
//     yet produced the .use file);
//   - 2: [Mismatch] (a credential exists whose scopes or audience differ);
//   - 1 with a stdout line "No credential is stored.": [NotStored]; the
//     real tool prints that line only when it reached the credd and the
//     credd found nothing (its stdout then starts with "Account: ..." and
//     "CredType: oauth");
//   - 1 without that line, or any other status: a *QueryError (the credd
//     was unreachable or refused the request). The state is unknown; the
//     caller must not treat it as "not stored".
//
// The captured stdout and stderr are kept in *QueryError and *StoreError for
// the caller's messages.
//
// # Names
//
// [ValidName] is the credd's okay_for_oauth_filename rule for user, service
// and handle names: non-empty, only ASCII letters, digits and - + = _ .
package htcondor
