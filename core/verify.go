package core

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/ratelimit"
)

// PermissionVerifyKey is the permission a key needs to verify other keys
// through the verify API.
const PermissionVerifyKey = "VerifyKey"

// Limits of one verify request.
const (
	MaxVerifyApps        = 100
	MaxVerifyPermissions = 100
	MaxVerifyCost        = 1_000_000
)

// VerifyRequest asks whether a credential may be used on the caller's own
// API, and for what.
type VerifyRequest struct {
	// Credential is a secret, an HS256 JWT, or "keyId:secret".
	Credential string
	// Apps, if not empty, limits the keys that count to those held by these
	// apps or their integrations: keys made for one API never open another.
	Apps []string
	// Permissions must all be granted, on Target.
	Permissions []string
	Target      latchkey.ACLTarget
	// Client is the address the credential was presented from; the zero
	// Addr if unknown, which a key with allowed addresses refuses.
	Client netip.Addr
	// Cost is what the request takes from the key's rate limit: 1 to
	// MaxVerifyCost; callers default it to 1.
	Cost int
}

// VerifyResult is the answer: Code says what happened. Key is set for
// every code but NOT_FOUND; RateLimit when the key has a limit and the
// check reached it.
type VerifyResult struct {
	Code      latchkey.Code
	Key       *latchkey.Principal
	RateLimit *ratelimit.Decision
}

// Valid reports whether the credential passed every check.
func (r *VerifyResult) Valid() bool { return r.Code == latchkey.CodeValid }

// CredentialChecker turns a credential into the key it proves;
// auth.Verifier implements it.
type CredentialChecker interface {
	// Check returns CodeValid with the key; CodeExpired or CodeDisabled with
	// the key, once its secret is proven; CodeNotFound with no key for
	// anything that proves no key. An error means it could not decide.
	Check(ctx context.Context, credential string) (*latchkey.Principal, latchkey.Code, error)
}

// Verify checks a credential for the caller's own API. Checks run in an
// order that leaks nothing: a key of another account than the caller's, or
// outside req.Apps, is NOT_FOUND before anything else is looked at (so an
// expired or disabled key there is NOT_FOUND too); then EXPIRED, DISABLED,
// IP_NOT_ALLOWED, INSUFFICIENT_PERMISSIONS, and last RATE_LIMITED, so that
// only a request that passed everything else takes from the limit.
//
// caller is the key that asks (it needs VerifyKey; account keys hold
// everything), or nil for the gateway authorize endpoint, which answers
// for any account unless req.Apps narrows it. An error is returned only for
// a bad request (EINVALID), a caller without the permission (EFORBIDDEN),
// or a failure to decide (the store unreachable): never a guess.
func (s *Service) Verify(ctx context.Context, caller *latchkey.Principal, req VerifyRequest) (*VerifyResult, error) {
	if err := checkVerifyRequest(&req); err != nil {
		return nil, err
	}
	if caller != nil && !caller.Policy.Permits(PermissionVerifyKey, latchkey.ACLTarget{}) {
		return nil, &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden: this key lacks the permission " + PermissionVerifyKey}
	}
	if s.checker == nil {
		return nil, errors.New("core: Verify needs a credential checker")
	}
	k, code, err := s.checker.Check(ctx, req.Credential)
	if err != nil {
		return nil, err // could not decide: fail closed
	}
	if k == nil || code == latchkey.CodeNotFound || !visibleTo(caller, k, req.Apps) {
		s.recordFailure(ctx, caller, nil, &req, latchkey.CodeNotFound)
		s.observe(latchkey.CodeNotFound)
		return &VerifyResult{Code: latchkey.CodeNotFound}, nil
	}
	res := &VerifyResult{Code: code, Key: k}
	if code == latchkey.CodeValid {
		res.Code = s.checkPolicy(ctx, k, &req, res)
	}
	s.recordUsage(k.KeyID, res.Code)
	s.observe(res.Code)
	if res.Code != latchkey.CodeValid {
		s.recordFailure(ctx, caller, k, &req, res.Code)
	}
	return res, nil
}

// recordFailure counts a failed check in the audit log's burst of its
// subject: the key, if the caller may know of it (k), else the client's
// address. The burst goes to the key's account, or to the caller's for a
// key it cannot see; a failure on the gateway path with no key goes to the
// operator's log.
func (s *Service) recordFailure(ctx context.Context, caller, k *latchkey.Principal, req *VerifyRequest, code latchkey.Code) {
	if s.audit == nil {
		return
	}
	r := audit.Request{}
	if from := audit.RequestFrom(ctx); from != nil {
		r = *from
	}
	if req.Client.IsValid() {
		r.ClientIP = req.Client // the end client, as the caller says
	}
	var account, keyID string
	switch {
	case k != nil:
		account, keyID = k.AccountID, k.KeyID
	case caller != nil:
		account = caller.AccountID
	}
	s.audit.Failure(&r, latchkey.ActionVerifyFailures, account, keyID, string(code))
}

// checkPolicy applies a proven key's policy to the request, in the order
// Verify documents.
func (s *Service) checkPolicy(ctx context.Context, k *latchkey.Principal, req *VerifyRequest, res *VerifyResult) latchkey.Code {
	if k.Policy.AllowedIPs != nil && (!req.Client.IsValid() || !k.Policy.AllowsIP(req.Client)) {
		return latchkey.CodeIPNotAllowed
	}
	for _, perm := range req.Permissions {
		if !k.Policy.Permits(perm, req.Target) {
			return latchkey.CodeInsufficientPermissions
		}
	}
	if k.Policy.RateLimit != nil && s.limiter != nil {
		d := s.limiter.Allow(ctx, k.KeyID, *k.Policy.RateLimit, req.Cost, s.now())
		res.RateLimit = &d
		if !d.Allowed {
			return latchkey.CodeRateLimited
		}
	}
	return latchkey.CodeValid
}

// visibleTo reports whether a verify caller may learn anything of key k: it
// must be in the caller's account (and within the caller's own app or
// integration if the caller is bound to one), and held by one of apps if
// they are given.
func visibleTo(caller, k *latchkey.Principal, apps []string) bool {
	if caller != nil {
		if k.AccountID != caller.AccountID ||
			caller.AppID != "" && k.AppID != caller.AppID ||
			caller.IntegrationID != "" && k.IntegrationID != caller.IntegrationID {
			return false
		}
	}
	return len(apps) == 0 || k.AppID != "" && slices.Contains(apps, k.AppID)
}

func checkVerifyRequest(req *VerifyRequest) error {
	switch {
	case req.Credential == "":
		return latchkey.Invalid("key", "key is required")
	case len(req.Apps) > MaxVerifyApps:
		return latchkey.Invalid("apps", "at most 100 apps")
	case len(req.Permissions) > MaxVerifyPermissions:
		return latchkey.Invalid("permissions", "at most 100 permissions")
	case req.Cost < 1 || req.Cost > MaxVerifyCost:
		return latchkey.Invalid("cost", "cost must be between 1 and 1000000")
	}
	return nil
}

// observe tells the observer, if any, of a verification's outcome.
func (s *Service) observe(code latchkey.Code) {
	if s.observer != nil {
		s.observer.Verified(code)
	}
}

// recordUsage counts one verification of a key, off the hot path's
// critical section: the recorder batches and flushes it later.
func (s *Service) recordUsage(keyID string, code latchkey.Code) {
	if s.usage != nil {
		s.usage.Record(keyID, code)
	}
}
