// Package transfer is the HTTPS/WebDAV file transfer plugin that HTCondor's
// starter runs on an execute point to move a job's files with the job's
// bearer token (cmd/gettoken_transfer_plugin is its command line).
//
// The starter writes one ClassAd per file into an input file, runs the
// plugin with -infile/-outfile (and -upload for output files), and reads
// one result ad per file back. Run implements that contract: it reads the
// input ads, transfers every file over one keep-alive HTTP client with a
// bounded number of parallel transfers, and writes the result ads into the
// pre-allocated output file without truncating it.
//
// The token is chosen by the URL's scheme (see Resolve): the curl plugin's
// `<service>[.<handle>]+https://host/path` form, the handle-first
// `<handle>+<service>://host/path` form for services the administrator
// lists, and, when enabled, WLCG bearer token discovery for plain URLs. It
// is read from the job's credential directory ($_CONDOR_CREDS) before
// every request, because the credmon replaces the file while a job runs,
// and it never appears in a result ad, a log line or an error.
package transfer
