package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/internal/vectors"
)

func TestAESQLCell(t *testing.T) {
	dir := vectors.Path(t, "always-encrypted/RootKey01.bin")
	ae := filepath.Dir(dir)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(ae, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cek01 := hex.EncodeToString(read("RootKey01.bin"))
	cek17 := hex.EncodeToString(read("RootKey17.bin"))
	tamper := filepath.Join(t.TempDir(), "tampered.bin")
	bad := read("FinalCell17.bin")
	bad[len(bad)-1] ^= 1
	if err := os.WriteFile(tamper, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		stdin    []byte
		code     int
		wantOut  string
		wantErrs string
	}{
		{"deterministic encrypt matches SQL Server", []string{"aesql", "cell", "encrypt", "--cek", cek01, "--deterministic", filepath.Join(ae, "PlainText01.bin")},
			nil, exitOK, hex.EncodeToString(read("FinalCell01.bin")) + "\n", ""},
		{"decrypt randomized cell from stdin", []string{"aesql", "cell", "decrypt", "--cek", "0x" + cek17, "-"},
			read("FinalCell17.bin"), exitOK, hex.EncodeToString(read("PlainText17.bin")) + "\n", ""},
		{"tampered cell", []string{"aesql", "cell", "decrypt", "--cek", cek17, tamper}, nil, exitVerify, "", "confide: hint:"},
		{"short cek", []string{"aesql", "cell", "decrypt", "--cek", "0011", tamper}, nil, exitUsage, "", "--cek"},
		{"missing cek", []string{"aesql", "cell", "encrypt", tamper}, nil, exitUsage, "", "cek"},
		{"missing file", []string{"aesql", "cell", "encrypt", "--cek", cek01, filepath.Join(ae, "nope")}, nil, exitFailure, "", "confide: error:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runWithStdin(tt.args, bytes.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("run(%q) = %d; want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("run(%q) stdout = %q; want %q", tt.args, stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErrs) {
				t.Errorf("run(%q) stderr = %q; want it to contain %q", tt.args, stderr.String(), tt.wantErrs)
			}
		})
	}
}

// TestAESQLCellRoundTrip encrypts with randomized IVs through the CLI and
// decrypts the result again.
func TestAESQLCellRoundTrip(t *testing.T) {
	cek := strings.Repeat("ab", 32)
	var out, errb bytes.Buffer
	if code := runWithStdin([]string{"aesql", "cell", "encrypt", "--cek", cek, "-"}, strings.NewReader("hello"), &out, &errb); code != exitOK {
		t.Fatalf("encrypt = %d, %s", code, errb.String())
	}
	cell, err := hex.DecodeString(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := runWithStdin([]string{"aesql", "cell", "decrypt", "--cek", cek, "-"}, bytes.NewReader(cell), &out, &errb); code != exitOK {
		t.Fatalf("decrypt = %d, %s", code, errb.String())
	}
	if got, want := strings.TrimSpace(out.String()), hex.EncodeToString([]byte("hello")); got != want {
		t.Errorf("decrypt(encrypt(hello)) = %s; want %s", got, want)
	}
}

// runWithStdin calls run with os.Stdin replaced by a file holding stdin
// (run itself reads the process's standard input).
func runWithStdin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := os.CreateTemp("", "confide-stdin")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, stdin); err != nil {
		panic(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		panic(err)
	}
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	return run(args, stdout, stderr)
}
