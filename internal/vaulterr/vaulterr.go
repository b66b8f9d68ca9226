// Package vaulterr reads Vault's error answers, in one place and with one
// truncation rule, for every program of the project that talks to Vault
// (and for the htgettoken option server, whose errors htgettoken reports
// the same way).
//
// Vault answers an error with a status other than 200 or 204 and a body
// {"errors":["...", ...]}. Other servers on the way (a proxy, a load
// balancer) answer with HTML or plain text instead. The message is
// htgettoken's: "HTTPError: <reason phrase>: <errors>", the entries of the
// list joined by spaces, or the body's first MaxBody bytes followed by
// "..." when it is not a Vault error document.
package vaulterr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// MaxBody is how many bytes of a body that is not a Vault error document
// go into a message.
const MaxBody = 200

// Error is an HTTP answer with a status other than 200 or 204.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Errors are the entries of the JSON "errors" list.
	Errors []string
	// Body is the whole raw body when it was not a Vault error document
	// (the message shows only its first MaxBody bytes).
	Body string
}

// FromResponse is the Error for an answer with status and body.
func FromResponse(status int, body []byte) *Error {
	e := &Error{Status: status}
	var doc struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Errors != nil {
		e.Errors = doc.Errors
	} else {
		e.Body = string(body)
	}
	return e
}

// Reason is the status's reason phrase ("Forbidden"), or "Status <code>"
// for a code without one.
func (e *Error) Reason() string {
	if r := http.StatusText(e.Status); r != "" {
		return r
	}
	return fmt.Sprintf("Status %d", e.Status)
}

// Detail is what the message says after the reason phrase: the errors
// joined by spaces, else the trimmed body cut to MaxBody bytes, else "".
func (e *Error) Detail() string {
	if len(e.Errors) > 0 {
		return strings.Join(e.Errors, " ")
	}
	b := strings.TrimSpace(e.Body)
	if len(b) > MaxBody {
		return b[:MaxBody] + "..."
	}
	return b
}

// Error returns "HTTPError: <reason>: <detail>" ("HTTPError: <reason>:"
// without detail).
func (e *Error) Error() string {
	msg := "HTTPError: " + e.Reason() + ":"
	if d := e.Detail(); d != "" {
		return msg + " " + d
	}
	return msg
}

// Has reports whether one of the errors is msg exactly
// ("permission denied", "authorization_pending").
func (e *Error) Has(msg string) bool {
	for _, m := range e.Errors {
		if m == msg {
			return true
		}
	}
	return false
}
