package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/vaultcred/gettoken/internal/tokenfile"
	"github.com/vaultcred/gettoken/vaultcred"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// deleteRefreshToken sends DELETE url with the vault token read from
// vtFile in the X-Vault-Token header. Any 2xx status is success. Other
// statuses give a *vaultcred.HTTPError, transport failures (the timeout of
// ctx included) a *vaultcred.ConnectionError. No error message contains
// the token.
func deleteRefreshToken(ctx context.Context, client *http.Client, url, vtFile string) error {
	token, err := tokenfile.ReadToken(vtFile)
	if err != nil {
		return fmt.Errorf("reading the vault token: %w", err)
	}
	if token == "" {
		return fmt.Errorf("the vault token file %s is empty", vtFile)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("the vault token file %s holds characters that cannot be in a token", vtFile)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		return &vaultcred.ConnectionError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	// A body cut short still explains what it can.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	he := &vaultcred.HTTPError{Status: resp.StatusCode}
	var doc struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Errors != nil {
		he.Errors = doc.Errors
	} else {
		he.Body = string(body)
	}
	return he
}
