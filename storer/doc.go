// Package storer is HTCondor's SEC_CREDENTIAL_STORER for Vault tokens: it
// turns condor_submit's credential requests into vaultcred calls and stores
// the resulting long-lived vault tokens with condor_store_cred add-oauth, as
// the original condor_vault_storer does.
package storer
