package sim

import (
	"encoding/asn1"
	"fmt"
)

// Object identifiers of the Intel SGX PCK certificate extension, from the
// Intel SGX PCK Certificate and CRL Profile Specification, section 1.5.
var (
	oidSGXExtension = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	oidPPID         = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 1}
	oidTCB          = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 2}
	oidPCEID        = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 3}
	oidFMSPC        = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 4}
	oidSGXType      = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 5}
)

// tcbComponentOID returns the OID of TCB entry n (1..16 = SGX TCB
// components, 17 = PCESVN, 18 = CPUSVN).
func tcbComponentOID(n int) asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 2, n}
}

// sgxEntry is one OID/value pair of the extension: SEQUENCE { OID, ANY }.
type sgxEntry struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

func entry(id asn1.ObjectIdentifier, v any) (sgxEntry, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return sgxEntry{}, fmt.Errorf("sim: encode %v: %w", id, err)
	}
	return sgxEntry{ID: id, Value: asn1.RawValue{FullBytes: b}}, nil
}

// sgxExtensionValue encodes the value of the SGX extension the way Intel's
// PCK certificates do for a Processor CA leaf: PPID (OCTET STRING 16), TCB
// (SEQUENCE of 16 component SVNs as INTEGER, PCESVN as INTEGER, CPUSVN as
// OCTET STRING 16), PCE-ID (OCTET STRING 2), FMSPC (OCTET STRING 6) and SGX
// Type (ENUMERATED, 0 = Standard).
func sgxExtensionValue(ppid [16]byte, cpusvn [16]byte, pcesvn uint16, pceid [2]byte, fmspc [6]byte) ([]byte, error) {
	var tcb []sgxEntry
	for i := 0; i < 16; i++ {
		e, err := entry(tcbComponentOID(i+1), int(cpusvn[i]))
		if err != nil {
			return nil, err
		}
		tcb = append(tcb, e)
	}
	e, err := entry(tcbComponentOID(17), int(pcesvn))
	if err != nil {
		return nil, err
	}
	tcb = append(tcb, e)
	if e, err = entry(tcbComponentOID(18), cpusvn[:]); err != nil {
		return nil, err
	}
	tcb = append(tcb, e)

	var all []sgxEntry
	for _, kv := range []struct {
		id asn1.ObjectIdentifier
		v  any
	}{
		{oidPPID, ppid[:]},
		{oidTCB, tcb},
		{oidPCEID, pceid[:]},
		{oidFMSPC, fmspc[:]},
		{oidSGXType, asn1.Enumerated(0)},
	} {
		e, err := entry(kv.id, kv.v)
		if err != nil {
			return nil, err
		}
		all = append(all, e)
	}
	return asn1.Marshal(all)
}
