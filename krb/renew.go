package krb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// ErrNotRenewable means a ticket-granting ticket cannot be renewed: it
// lacks the renewable flag, or its renew-until time has passed.
var ErrNotRenewable = errors.New("Kerberos ticket-granting ticket is not renewable")

// Renewable reports whether tgt can still be renewed at now.
func Renewable(tgt *Credential, now time.Time) bool {
	return tgt.Flags&FlagRenewable != 0 && tgt.RenewTill.After(now)
}

// RenewTGT asks a KDC of the principal's realm to renew the cache's
// ticket-granting ticket (a TGS request with the RENEW option, as
// kinit -R does) and returns a copy of c whose TGT is the renewed one;
// configuration entries and other tickets are kept as they are. The KDCs
// are found through krb5.conf (opts.ConfigPath, else KRB5_CONFIG, else
// /etc/krb5.conf) or DNS. c is not changed.
//
// Errors match ErrNoCredentials (no TGT), ErrNotRenewable, ErrConfig,
// ErrKDCUnreachable (also when ctx ends first) or ErrKDCRefused. They
// never contain key or ticket bytes.
func RenewTGT(ctx context.Context, c *Contents, opts Options) (*Contents, error) {
	o := opts.resolve()
	tgt := c.TGT()
	if tgt == nil {
		return nil, newError(ErrNoCredentials, "no ticket-granting ticket for "+c.Principal.String(), nil)
	}
	if !Renewable(tgt, o.now()) {
		return nil, newError(ErrNotRenewable, "the ticket-granting ticket of "+c.Principal.String()+" cannot be renewed", nil)
	}
	prof, err := loadProfile(configPaths(o))
	if err != nil {
		return nil, err
	}
	realm := c.Principal.Realm
	cfg, err := buildConfig(prof, realm)
	if err != nil {
		return nil, err
	}
	// gokrb5 builds its client from a cache image; the image is ours,
	// already decoded by a bounds-checked parser.
	cc, err := parseCCache(c.MarshalFile())
	if err != nil {
		return nil, newError(ErrCCacheUnreadable, "credentials cache of "+c.Principal.String(), err)
	}
	l := &loadedCCache{cc: cc, name: "renewal of " + c.Principal.String()}
	cl, err := newGokrb5Client(l, cfg)
	if err != nil {
		return nil, err
	}
	var tkt messages.Ticket
	if err := tkt.Unmarshal(tgt.Ticket); err != nil {
		return nil, newError(ErrCCacheUnreadable, "the ticket-granting ticket of "+c.Principal.String()+" is malformed", nil)
	}
	key := types.EncryptionKey{KeyType: int32(tgt.KeyType), KeyValue: tgt.Key}
	spn := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+realm)
	type outcome struct {
		rep messages.TGSRep
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		// gokrb5 takes no context; its own KDC timeouts end the call.
		defer func() {
			if r := recover(); r != nil {
				ch <- outcome{err: errors.New("malformed reply")}
			}
		}()
		_, rep, err := cl.TGSREQGenerateAndExchange(spn, realm, tkt, key, true)
		ch <- outcome{rep, err}
	}()
	var out outcome
	select {
	case out = <-ch:
		defer cl.Destroy()
	case <-ctx.Done():
		go func() { <-ch; cl.Destroy() }()
		return nil, ctxError(ctx.Err(), "krbtgt/"+realm)
	}
	if out.err != nil {
		return nil, classifyTicketError(out.err, "krbtgt/"+realm, realm)
	}
	ep := out.rep.DecryptedEncPart
	newTkt, err := out.rep.Ticket.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding the renewed ticket: %w", err)
	}
	renewed := *tgt
	renewed.KeyType = uint16(ep.Key.KeyType)
	renewed.Key = append([]byte(nil), ep.Key.KeyValue...)
	renewed.AuthTime, renewed.StartTime = ep.AuthTime, ep.StartTime
	renewed.EndTime, renewed.RenewTill = ep.EndTime, ep.RenewTill
	renewed.Flags = flagsOf(ep.Flags.Bytes)
	renewed.Ticket = newTkt
	renewed.SecondTicket = nil
	res := &Contents{Principal: c.Principal, KDCOffset: c.KDCOffset, HasOffset: c.HasOffset}
	for i := range c.Credentials {
		cr := c.Credentials[i]
		if &c.Credentials[i] == tgt {
			cr = renewed
		}
		res.Credentials = append(res.Credentials, cr)
	}
	return res, nil
}

// flagsOf reads a KerberosFlags bit string as the cache's big-endian u32.
func flagsOf(b []byte) uint32 {
	var w [4]byte
	copy(w[:], b)
	return binary.BigEndian.Uint32(w[:])
}
