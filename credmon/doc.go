// Package credmon is the HTCondor credential monitor daemon: it watches the
// credential directory, exchanges the vault tokens in .top files for access
// tokens and writes them to .use files, and also serves OAuth refresh-token
// and local-issuer credentials so that one process can replace HTCondor's
// multi credmon.
package credmon
