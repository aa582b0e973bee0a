package dcap

import (
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/confide-dev/confide/attest"
)

// Object identifiers of the SGX extension of PCK certificates (Intel SGX
// PCK Certificate and CRL Profile, section 1.5), in dotted form.
const (
	oidSGXExtension = "1.2.840.113741.1.13.1"
	oidPPID         = oidSGXExtension + ".1"
	oidTCB          = oidSGXExtension + ".2"
	oidPCEID        = oidSGXExtension + ".3"
	oidFMSPC        = oidSGXExtension + ".4"
	oidSGXType      = oidSGXExtension + ".5"
	// tcbArcs is the number of arcs of oidTCB; a TCB entry has one more.
	tcbArcs = 8
)

// PCKInfo is what the SGX extension of a PCK certificate says.
type PCKInfo struct {
	PPID   [16]byte
	Comps  [16]byte // SGX TCB components 1..16
	PCESVN uint16
	CPUSVN [16]byte
	PCEID  [2]byte
	FMSPC  [6]byte
	// SGXType is 0 (Standard), 1 (Scalable) or 2 (Scalable with integrity).
	SGXType int
}

type sgxEntry struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// maxExtension bounds the SGX extension value.
const maxExtension = 4096

// ParsePCKExtension parses the value of the SGX extension. Required
// entries must appear exactly once; unknown entries (platform instance ID,
// configuration) are skipped. It is pure.
func ParsePCKExtension(der []byte) (*PCKInfo, error) {
	if len(der) > maxExtension {
		return nil, fmt.Errorf("%w: SGX extension of %d bytes", attest.ErrMalformed, len(der))
	}
	var entries []sgxEntry
	rest, err := asn1.Unmarshal(der, &entries)
	if err != nil {
		return nil, fmt.Errorf("%w: SGX extension: %v", attest.ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: SGX extension: %d trailing bytes", attest.ErrMalformed, len(rest))
	}
	p := &PCKInfo{}
	seen := map[string]bool{}
	for _, e := range entries {
		key := e.ID.String()
		if seen[key] {
			return nil, fmt.Errorf("%w: SGX extension: duplicate entry %v", attest.ErrMalformed, e.ID)
		}
		seen[key] = true
		switch key {
		case oidPPID:
			err = octets(e.Value, p.PPID[:], "PPID")
		case oidTCB:
			err = parseTCB(e.Value, p)
		case oidPCEID:
			err = octets(e.Value, p.PCEID[:], "PCE-ID")
		case oidFMSPC:
			err = octets(e.Value, p.FMSPC[:], "FMSPC")
		case oidSGXType:
			var t asn1.Enumerated
			if err = unmarshalAll(e.Value.FullBytes, &t, "SGX type"); err == nil {
				if t < 0 || t > 2 {
					err = fmt.Errorf("%w: SGX extension: SGX type %d", attest.ErrMalformed, t)
				}
				p.SGXType = int(t)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	for _, id := range [...]string{oidPPID, oidTCB, oidPCEID, oidFMSPC, oidSGXType} {
		if !seen[id] {
			return nil, fmt.Errorf("%w: SGX extension: entry %v missing", attest.ErrMalformed, id)
		}
	}
	return p, nil
}

func unmarshalAll(b []byte, v any, what string) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return fmt.Errorf("%w: SGX extension: %s: %v", attest.ErrMalformed, what, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: SGX extension: %s: trailing bytes", attest.ErrMalformed, what)
	}
	return nil
}

func octets(v asn1.RawValue, dst []byte, what string) error {
	var b []byte
	if err := unmarshalAll(v.FullBytes, &b, what); err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%w: SGX extension: %s is %d bytes; want %d", attest.ErrMalformed, what, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

func parseTCB(v asn1.RawValue, p *PCKInfo) error {
	var entries []sgxEntry
	if err := unmarshalAll(v.FullBytes, &entries, "TCB"); err != nil {
		return err
	}
	seen := make(map[int]bool)
	for _, e := range entries {
		if len(e.ID) != tcbArcs+1 || e.ID[:tcbArcs].String() != oidTCB {
			continue
		}
		n := e.ID[tcbArcs]
		if seen[n] {
			return fmt.Errorf("%w: SGX extension: duplicate TCB entry %d", attest.ErrMalformed, n)
		}
		seen[n] = true
		switch {
		case n >= 1 && n <= 16, n == 17:
			var x int
			if err := unmarshalAll(e.Value.FullBytes, &x, "TCB component"); err != nil {
				return err
			}
			limit := 255
			if n == 17 {
				limit = 65535
			}
			if x < 0 || x > limit {
				return fmt.Errorf("%w: SGX extension: TCB entry %d = %d", attest.ErrMalformed, n, x)
			}
			if n == 17 {
				p.PCESVN = uint16(x)
			} else {
				p.Comps[n-1] = byte(x)
			}
		case n == 18:
			if err := octets(e.Value, p.CPUSVN[:], "CPUSVN"); err != nil {
				return err
			}
		}
	}
	for n := 1; n <= 18; n++ {
		if !seen[n] {
			return fmt.Errorf("%w: SGX extension: TCB entry %d missing", attest.ErrMalformed, n)
		}
	}
	return nil
}

// CAType returns "processor" or "platform" from the PCK certificate
// issuer's common name ("… PCK Processor CA" / "… PCK Platform CA").
func CAType(issuerCN string) (string, error) {
	switch {
	case strings.HasSuffix(issuerCN, "PCK Processor CA"):
		return "processor", nil
	case strings.HasSuffix(issuerCN, "PCK Platform CA"):
		return "platform", nil
	}
	return "", fmt.Errorf("%w: PCK issuer %q is neither a Processor nor a Platform CA", attest.ErrChain, issuerCN)
}
