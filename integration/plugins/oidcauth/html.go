package oidcauth

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"
)

func htmlResponse(status int, body string) *logical.Response {
	return &logical.Response{Data: map[string]any{
		logical.HTTPContentType: "text/html; charset=utf-8",
		logical.HTTPStatusCode:  status,
		logical.HTTPRawBody:     []byte(body),
	}}
}

const successHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Vault Authentication Succeeded</title></head>
<body><h1>Vault Authentication Succeeded</h1>
<p>You may now close this window and return to the command line.</p></body></html>
`

var failureTmpl = template.Must(template.New("failure").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Vault Authentication Failed</title></head>
<body><h1>Vault Authentication Failed</h1>
<p>{{.Prefix}} {{.Message}}</p></body></html>
`))

// failurePage is a 400 HTML page "Vault login failed. <msg>".
func failurePage(msg string) *logical.Response {
	var buf bytes.Buffer
	if err := failureTmpl.Execute(&buf, struct{ Prefix, Message string }{errLoginFailed, msg}); err != nil {
		// cannot happen with string fields; fall back to a fixed page
		buf.Reset()
		buf.WriteString("<!DOCTYPE html><html><body><h1>Vault Authentication Failed</h1></body></html>\n")
	}
	return htmlResponse(http.StatusBadRequest, buf.String())
}

var confirmTmpl = template.Must(template.New("confirm").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Confirm Vault Login</title></head>
<body><h1>Confirm Vault Login</h1>
<p>A login with role <b>{{.Role}}</b> was requested{{if .IP}} from <b>{{.IP}}</b>{{end}}.
Continue only if you started it yourself.</p>
<form method="get" action="callback">
<input type="hidden" name="state" value="{{.State}}">
{{if .Code}}<input type="hidden" name="code" value="{{.Code}}">{{end}}
{{if .Error}}<input type="hidden" name="error" value="{{.Error}}">{{end}}
<input type="hidden" name="confirmation" value="yes">
<button type="submit">Continue</button>
</form></body></html>
`))

// confirmPage asks the user to confirm a direct-mode login; its form
// repeats the callback with confirmation=yes.
func confirmPage(ip, role, state, code, oidcErr string) (string, error) {
	var buf bytes.Buffer
	err := confirmTmpl.Execute(&buf, struct{ IP, Role, State, Code, Error string }{ip, role, state, code, oidcErr})
	if err != nil {
		return "", fmt.Errorf("rendering confirmation page: %w", err)
	}
	return buf.String(), nil
}
