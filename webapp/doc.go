// Package webapp is the OAuth login web application of an HTCondor access
// point (condor_credmon_webserver): the replacement for the Flask
// application of HTCondor's condor_credmon_oauth.
//
// condor_submit prints <CREDMON_WEB_PREFIX>/key/<key> for a job whose OAuth
// tokens are missing; the credd has written the key file <creddir>/<key>,
// one ClassAd per missing token (read with [ParseKeyAds] and checked by
// [ParseKeyFile]). The user opens the link ([Server] starts a session and
// shows the live page), logs in at each provider (authorization code flow
// with PKCE S256 through golang.org/x/oauth2, state bound to the
// server-side session), and the return endpoint writes
// <creddir>/<user>/<name>.meta, .use and .top exactly as HTCondor's Python
// web application does, so that HTCondor's Python credmon and
// condor_credmon_vault refresh them. When every token of the key file is
// stored, the key file is removed.
//
// Every file operation in the credential directory goes through a
// [CredStore]; [DirStore] implements it with one checked directory handle
// (openat-style calls, no symbolic links followed, atomic temporary file +
// rename, owner and mode checks).
//
// See docs/webapp.md for the routes, knobs, files and the differences from
// the original.
package webapp
