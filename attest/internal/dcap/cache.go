package dcap

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"

	"github.com/confide-dev/confide/attest"
)

// Cache keeps the outcome of verifying a PCK chain with its collateral
// (certificate chains, collateral signatures, CRLs), keyed by a hash of
// all the bytes involved and the trusted roots, and reuses it while the
// verification time stays within the window where every piece is valid.
// A warm verification then checks only the two signatures that are
// specific to a quote. Cache is safe for concurrent use.
type Cache struct {
	mu     sync.Mutex
	max    int
	m      map[[32]byte]*verified
	chains map[[32]byte]*parsed
}

// parsed is a parsed (not verified) PCK certificate chain.
type parsed struct {
	chain  []*x509.Certificate
	pck    *PCKInfo
	caType string
}

// parsedChain parses certData, or returns the parse of identical bytes
// made earlier. c may be nil.
func (c *Cache) parsedChain(certData []byte) (*parsed, error) {
	var k [32]byte
	if c != nil {
		k = sha256.Sum256(certData)
		c.mu.Lock()
		p := c.chains[k]
		c.mu.Unlock()
		if p != nil {
			return p, nil
		}
	}
	chain, err := parseChain(certData, "PCK certificate chain")
	if err != nil {
		return nil, err
	}
	caType, err := CAType(chain[0].Issuer.CommonName)
	if err != nil {
		return nil, err
	}
	pck, err := pckInfo(chain[0])
	if err != nil {
		return nil, err
	}
	p := &parsed{chain: chain, pck: pck, caType: caType}
	if c != nil {
		c.mu.Lock()
		if len(c.chains) >= c.max {
			clear(c.chains)
		}
		c.chains[k] = p
		c.mu.Unlock()
	}
	return p, nil
}

// NewCache returns a cache holding at most max entries (0: 1024).
func NewCache(max int) *Cache {
	if max <= 0 {
		max = 1024
	}
	return &Cache{max: max, m: make(map[[32]byte]*verified), chains: make(map[[32]byte]*parsed)}
}

func (c *Cache) get(k [32]byte, now time.Time) *verified {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[k]
	if v == nil || now.Before(v.from) || now.After(v.until) {
		return nil
	}
	return v
}

func (c *Cache) put(k [32]byte, v *verified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[k] = v
}

func cacheKey(certData []byte, c *attest.Collateral, roots, sim []*x509.Certificate) [32]byte {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put(certData)
	for _, b := range [][]byte{c.TCBInfo, c.TCBInfoSignature, c.TCBInfoIssuerChain, c.QEIdentity, c.QEIdentitySignature,
		c.QEIdentityIssuerChain, c.PCKCRL, c.PCKCRLIssuerChain, c.RootCACRL} {
		put(b)
	}
	put([]byte{byte(len(roots)), byte(len(sim))})
	for _, r := range append(append([]*x509.Certificate(nil), roots...), sim...) {
		put(r.Raw)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}
