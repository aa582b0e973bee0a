package attest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Hex is a byte string that encodes to JSON as a lowercase hex string.
type Hex []byte

// MarshalJSON encodes h as a hex string.
func (h Hex) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(h))
}

// UnmarshalJSON decodes a hex string into h.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("attest: hex field: %w", err)
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("attest: hex field: %w", err)
	}
	*h = d
	return nil
}

// String returns h in lowercase hex.
func (h Hex) String() string { return hex.EncodeToString(h) }

// TEE names the kind of trusted execution environment that produced evidence.
type TEE string

// Kinds of TEE.
const (
	SGX TEE = "sgx"
	TDX TEE = "tdx"
	SNP TEE = "sev-snp"
)

// TCBStatus is a TCB level status as Intel spells it in TCB info
// ("UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
// "ConfigurationAndSWHardeningNeeded", "OutOfDate",
// "OutOfDateConfigurationNeeded", "Revoked"), or "" when no TCB status was
// computed.
type TCBStatus string

// TCB statuses as Intel spells them.
const (
	UpToDate                          TCBStatus = "UpToDate"
	SWHardeningNeeded                 TCBStatus = "SWHardeningNeeded"
	ConfigurationNeeded               TCBStatus = "ConfigurationNeeded"
	ConfigurationAndSWHardeningNeeded TCBStatus = "ConfigurationAndSWHardeningNeeded"
	OutOfDate                         TCBStatus = "OutOfDate"
	OutOfDateConfigurationNeeded      TCBStatus = "OutOfDateConfigurationNeeded"
	Revoked                           TCBStatus = "Revoked"
	// TDRelaunchAdvised and TDRelaunchAdvisedConfigurationNeeded are
	// computed for TDX quotes with a TD report 1.5: the TD runs under an
	// up-to-date TDX module but was launched under an out-of-date one.
	TDRelaunchAdvised                    TCBStatus = "TDRelaunchAdvised"
	TDRelaunchAdvisedConfigurationNeeded TCBStatus = "TDRelaunchAdvisedConfigurationNeeded"
)

// Claims is what a verifier learned from evidence that verified. Only
// verifiers produce Claims; policies take only Claims.
//
// Byte fields encode to JSON as lowercase hex. Fields that do not apply to
// the TEE are zero and omitted from JSON where marked.
type Claims struct {
	// TEE is the kind of evidence the claims come from.
	TEE TEE `json:"tee"`

	// UniqueID is the measurement of the enclave (SGX MRENCLAVE; for TDX
	// and SNP, the launch measurement MRTD / MEASUREMENT).
	UniqueID Hex `json:"unique_id"`
	// SignerID is the enclave signer's identity (SGX MRSIGNER).
	SignerID Hex `json:"signer_id,omitempty"`
	// ProductID is the ISV product ID.
	ProductID uint16 `json:"product_id"`
	// SecurityVersion is the ISV security version number.
	SecurityVersion uint16 `json:"security_version"`
	// Debug reports whether the enclave, TD or guest is debuggable.
	Debug bool `json:"debug"`
	// Attributes are the raw enclave or TD attributes.
	Attributes Hex `json:"attributes,omitempty"`
	// ReportData is the 64 bytes of report data bound into the evidence.
	ReportData Hex `json:"report_data"`
	// ExtendedProductID is the SGX KSS extended product ID.
	ExtendedProductID Hex `json:"extended_product_id,omitempty"`
	// FamilyID is the SGX KSS family ID.
	FamilyID Hex `json:"family_id,omitempty"`
	// ConfigID is the SGX KSS CONFIGID.
	ConfigID Hex `json:"config_id,omitempty"`
	// ConfigSVN is the SGX KSS CONFIGSVN.
	ConfigSVN uint16 `json:"config_svn,omitempty"`

	// TCBStatus is the platform's TCB level status, "" if not computed.
	TCBStatus TCBStatus `json:"tcb_status,omitempty"`
	// AdvisoryIDs are the security advisories that apply to the TCB level.
	AdvisoryIDs []string `json:"advisory_ids"`
	// TCBDate is the tcbDate of the matched TCB level.
	TCBDate time.Time `json:"tcb_date,omitzero"`
	// QEStatus is the TCB status of the quoting enclave per QE identity.
	QEStatus TCBStatus `json:"qe_status,omitempty"`
	// CollateralExpiry is the earliest nextUpdate of the collateral used.
	CollateralExpiry time.Time `json:"collateral_expiry,omitzero"`
	// RevocationChecked reports whether CRLs were available and checked.
	RevocationChecked bool `json:"revocation_checked"`
	// FMSPC is the platform's FMSPC from the PCK certificate.
	FMSPC Hex `json:"fmspc,omitempty"`

	// Simulated is true when the evidence chains to the simulated root.
	Simulated bool `json:"simulated"`

	// TDX holds the TD-specific claims for TDX evidence.
	TDX *TDXClaims `json:"tdx,omitempty"`
}

// TDXClaims are the claims specific to a TDX trust domain.
type TDXClaims struct {
	MRTD         Hex    `json:"mrtd"`
	RTMR         [4]Hex `json:"rtmr"`
	MRConfigID   Hex    `json:"mrconfigid"`
	MROwner      Hex    `json:"mrowner"`
	MROwnerCfg   Hex    `json:"mrownerconfig"`
	MRSignerSeam Hex    `json:"mrsignerseam"`
	MRSeam       Hex    `json:"mrseam"`
	TDAttributes Hex    `json:"td_attributes"`
	XFAM         Hex    `json:"xfam"`
	TEETCBSVN    Hex    `json:"tee_tcb_svn"`
	// TEETCBSVN2 (the TDX module running now) and MRServiceTD are set for
	// TD report 1.5 bodies (quote v5, body type 3).
	TEETCBSVN2  Hex `json:"tee_tcb_svn2,omitempty"`
	MRServiceTD Hex `json:"mrservicetd,omitempty"`
	// ModuleID is the TDX module identity matched in the TCB info
	// ("TDX_01", …), empty for a TDX module of major version 0.
	ModuleID string `json:"tdx_module_id,omitempty"`
	// ModuleStatus is the TCB status of the TDX module identity.
	ModuleStatus TCBStatus `json:"tdx_module_status,omitempty"`
}
