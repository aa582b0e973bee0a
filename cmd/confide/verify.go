package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/pcs"
	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/tee/sim"
)

func init() { commands = append(commands, newVerifyCmd) }

// evidenceKind guesses the kind of evidence from its first bytes: an Open
// Enclave report or evidence header, or a DCAP quote header whose TEE type
// says SGX or TDX.
func evidenceKind(b []byte) string {
	if len(b) >= 16 && binary.LittleEndian.Uint32(b) == 1 && binary.LittleEndian.Uint32(b[4:]) == 2 {
		return "OpenEnclave"
	}
	if len(b) >= 32 && binary.LittleEndian.Uint32(b) == 3 {
		return "OpenEnclave"
	}
	if len(b) >= 8 && binary.LittleEndian.Uint16(b) >= 4 && binary.LittleEndian.Uint32(b[4:]) == 0x81 {
		return "TdxVm"
	}
	return "SgxEnclave"
}

// verifierFlags are the evidence-verification flags shared by verify and serve.
type verifierFlags struct {
	collateral, pcsURL, simDir string
	allowSim                   bool
}

// register adds the flags; pcsNote describes the default collateral source.
func (f *verifierFlags) register(cmd *cobra.Command, pcsNote string) {
	fl := cmd.Flags()
	fl.StringVar(&f.collateral, "collateral", "", "collateral file (JSON: tcb_info, tcb_info_signature, …) for Intel-rooted evidence")
	fl.StringVar(&f.pcsURL, "pcs", "", "PCS v4 service root for collateral (Intel PCS, a PCCS, or confide sim pcs)"+pcsNote)
	fl.StringVar(&f.simDir, "sim-dir", "", "simulated platform whose root is trusted with --allow-sim (default "+defaultSimDir()+")")
}

// build returns verifier options; now is the verification time and
// defaultPCS the PCS used when neither --collateral nor --pcs is given.
func (f *verifierFlags) build(now func() time.Time, defaultPCS string) (verifier.Options, error) {
	var intel attest.Getter
	if f.collateral == "" && f.pcsURL == "" {
		f.pcsURL = defaultPCS
	}
	switch {
	case f.collateral != "" && f.pcsURL != "":
		return verifier.Options{}, usageError("give --collateral or --pcs, not both")
	case f.collateral != "":
		b, err := os.ReadFile(f.collateral)
		if err != nil {
			return verifier.Options{}, usageError("%v", err)
		}
		c, err := attest.ParseCollateralJSON(b)
		if err != nil {
			return verifier.Options{}, usageError("--collateral %s: %v", f.collateral, err)
		}
		intel = attest.StaticGetter{C: c}
	case f.pcsURL != "":
		g, err := pcs.New(f.pcsURL, pcs.Options{Now: now})
		if err != nil {
			return verifier.Options{}, usageError("%v", err)
		}
		intel = g
	}
	o := verifier.Options{}
	if f.allowSim {
		dir := f.simDir
		if dir == "" {
			dir = defaultSimDir()
		}
		st, err := sim.LoadState(dir)
		if err != nil {
			return verifier.Options{}, withCode(exitFailure, err, "create the simulated platform with: confide sim init")
		}
		o = verifier.WithSimulated(st.RootCertificate(), st.Getter(), intel)
	} else {
		o.SGX.Getter, o.TDX.Getter = intel, intel
	}
	o.SGX.Now, o.TDX.Now = now, now
	return o, nil
}

func newVerifyCmd() *cobra.Command {
	var vf verifierFlags
	var at, policyFile, kind string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify [flags] EVIDENCE|-",
		Short: "Verify SGX or TDX evidence offline and appraise it against a policy",
		Long: `verify checks a DCAP quote (SGX v3/v4, TDX v4/v5) or Open Enclave evidence
(read from the file EVIDENCE, or standard input for -):
signatures, the PCK chain to Intel's SGX Root CA (or, with --allow-sim, to the
simulated platform's root), and with collateral (--collateral FILE or --pcs URL)
the TCB info, QE identity, CRLs and TCB level. It prints the claims and
appraises them against the policy (--policy FILE, JSON; default: no debug, TCB
status UpToDate or SWHardeningNeeded, no simulation unless --allow-sim).

Exit status: 0 verified and the policy holds; 3 the evidence did not verify
(claims are still printed when signatures held but the TCB could not be
appraised); 4 verified but the policy refused it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageError("--at %q: want RFC 3339 time", at)
				}
				now = func() time.Time { return t }
			}
			var policy attest.Policy
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return usageError("%v", err)
				}
				p, err := attest.ParsePolicy(b)
				if err != nil {
					return usageError("--policy %s: %v", policyFile, err)
				}
				policy = *p
			} else {
				policy.AllowSimulated = vf.allowSim
			}
			opts, err := vf.build(now, "")
			if err != nil {
				return err
			}
			ev, err := readEvidence(cmd.InOrStdin(), args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if kind == "" {
				kind = evidenceKind(ev)
			}
			claims, verr := verifier.New(opts).Verify(cmd.Context(), kind, ev)
			if claims != nil {
				if err := printClaims(cmd.OutOrStdout(), claims, asJSON); err != nil {
					return err
				}
			}
			if verr != nil {
				hint := ""
				switch {
				case errors.Is(verr, attest.ErrCollateralMissing) && vf.pcsURL != "":
					hint = "check that " + vf.pcsURL + " serves PCS v4 collateral, or give a file with --collateral FILE"
				case errors.Is(verr, attest.ErrCollateralMissing):
					hint = "give collateral with --collateral FILE or --pcs URL"
				case errors.Is(verr, attest.ErrChain) && !vf.allowSim:
					hint = "simulated evidence needs --allow-sim"
				}
				return withCode(exitVerify, verr, hint)
			}
			if err := policy.Check(claims); err != nil {
				return withCode(exitPolicy, fmt.Errorf("policy refused the evidence: %s", strings.ReplaceAll(err.Error(), "\n", "; ")), "")
			}
			return nil
		},
	}
	vf.register(cmd, "")
	f := cmd.Flags()
	f.Var(allowSimFlag{&vf}, "allow-sim", "trust the simulated platform's root (and let the default policy accept simulated evidence); --allow-sim=SIMDIR names the platform's state directory")
	f.Lookup("allow-sim").NoOptDefVal = "true"
	f.StringVar(&at, "at", "", "verification time (RFC 3339; default now)")
	f.StringVar(&policyFile, "policy", "", "policy file (JSON, attest.Policy)")
	f.StringVar(&kind, "kind", "", "evidence kind: SgxEnclave, OpenEnclave or TdxVm (default: detected)")
	f.BoolVar(&asJSON, "json", false, "print the claims as JSON")
	return cmd
}

// maxEvidence bounds the evidence read; quotes are a few KiB.
const maxEvidence = 1 << 20

// readEvidence reads the evidence file name, or r for "-".
func readEvidence(r io.Reader, name string) ([]byte, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEvidence+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEvidence {
		return nil, fmt.Errorf("evidence %s: more than %d bytes", name, maxEvidence)
	}
	return b, nil
}

// allowSimFlag is --allow-sim[=SIMDIR]: a switch that can also name the
// simulated platform's state directory. "true" and "false" (and the other
// spellings strconv.ParseBool takes) switch; anything else is a directory.
type allowSimFlag struct{ vf *verifierFlags }

func (f allowSimFlag) String() string {
	if f.vf == nil {
		return "false"
	}
	return strconv.FormatBool(f.vf.allowSim)
}

func (f allowSimFlag) Set(v string) error {
	if b, err := strconv.ParseBool(v); err == nil {
		f.vf.allowSim = b
		return nil
	}
	if v == "" {
		return errors.New("empty directory")
	}
	f.vf.allowSim, f.vf.simDir = true, v
	return nil
}

// Type is "bool" so that help shows the flag without a value.
func (f allowSimFlag) Type() string { return "bool" }

func printClaims(w io.Writer, c *attest.Claims, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	p := func(k string, v any) { fmt.Fprintf(w, "%-19s %v\n", k+":", v) }
	p("tee", c.TEE)
	p("unique_id", c.UniqueID)
	if c.TEE == attest.SGX {
		p("signer_id", c.SignerID)
		p("product_id", c.ProductID)
		p("security_version", c.SecurityVersion)
	}
	p("debug", c.Debug)
	p("report_data", c.ReportData)
	status := string(c.TCBStatus)
	if status == "" {
		status = "(not computed)"
	}
	p("tcb_status", status)
	p("advisory_ids", strings.Join(c.AdvisoryIDs, ", "))
	if c.QEStatus != "" {
		p("qe_status", c.QEStatus)
	}
	if !c.CollateralExpiry.IsZero() {
		p("collateral_expiry", c.CollateralExpiry.Format(time.RFC3339))
	}
	p("revocation_checked", c.RevocationChecked)
	p("fmspc", c.FMSPC)
	p("simulated", c.Simulated)
	if c.TDX != nil {
		p("mrtd", c.TDX.MRTD)
		for i, r := range c.TDX.RTMR {
			p(fmt.Sprintf("rtmr%d", i), r)
		}
		p("td_attributes", c.TDX.TDAttributes)
		p("tee_tcb_svn", c.TDX.TEETCBSVN)
		if c.TDX.ModuleID != "" {
			p("tdx_module", string(c.TDX.ModuleID)+" "+string(c.TDX.ModuleStatus))
		}
	}
	return nil
}
