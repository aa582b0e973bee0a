package main

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/confide-dev/confide/internal/vectors"
)

// TestMain makes the test binary double as the confide command (and as
// confide-exit) inside testscript scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"confide": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
		// confide-exit CODE ARGS... runs confide ARGS and succeeds only if
		// it exits with CODE, so scripts can check exit codes.
		"confide-exit": func() {
			if len(os.Args) < 2 {
				fmt.Fprintln(os.Stderr, "usage: confide-exit CODE ARGS...")
				os.Exit(100)
			}
			want, err := strconv.Atoi(os.Args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "confide-exit: bad code:", err)
				os.Exit(100)
			}
			if got := run(os.Args[2:], os.Stdout, os.Stderr); got != want {
				fmt.Fprintf(os.Stderr, "confide-exit: confide exited with %d; want %d\n", got, want)
				os.Exit(1)
			}
			os.Exit(0)
		},
	})
}

// TestScripts runs testdata/script/*.txtar. Scripts call confide and
// confide-exit, and exec only external tools guarded by [exec:tool].
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			if d, ok := vectors.Find(); ok {
				env.Setenv("VECTORS", d)
			}
			return nil
		},
		// [vectors] holds when ../shared/vectors (or $CONFIDE_VECTORS) exists.
		Condition: func(cond string) (bool, error) {
			if cond == "vectors" {
				_, ok := vectors.Find()
				return ok, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"filemode": cmdFilemode,
		},
	})
}

// cmdFilemode: filemode FILE MODE checks FILE's permission bits (octal).
func cmdFilemode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("filemode: bad mode %q", args[1])
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint64(fi.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("filemode %s = %o; want %s%o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}
