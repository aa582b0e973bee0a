package dcap

import (
	"crypto/x509"
	"encoding/pem"
	"sync"
)

// intelRootPEM is Intel's SGX Root CA certificate ("Intel SGX Root CA",
// valid 2018-05-21 to 2049-12-31), the trust anchor of every PCK, TCB
// signing and PCK CA certificate. Intel publishes it at
// https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.cer.
const intelRootPEM = `-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`

// intelRoot is the parsed intelRootPEM, shared by verifications that use
// the default root; it is never handed out (see IntelRoot).
var intelRoot = sync.OnceValue(func() *x509.Certificate { return parseIntelRoot() })

func parseIntelRoot() *x509.Certificate {
	b, _ := pem.Decode([]byte(intelRootPEM))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("dcap: embedded Intel root: " + err.Error())
	}
	return c
}

// DefaultRoots returns the default trusted roots (Intel's SGX Root CA)
// for the verifier's own use: the certificate is shared and must not be
// changed or given to callers.
func DefaultRoots() []*x509.Certificate { return []*x509.Certificate{intelRoot()} }

// IntelRoot returns a new copy of Intel's SGX Root CA certificate.
func IntelRoot() *x509.Certificate { return parseIntelRoot() }
