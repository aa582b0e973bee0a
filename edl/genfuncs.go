package edl

import (
	"fmt"
	"strings"
)

const transportType = "func(context.Context, uint32, []byte) ([]byte, error)"

func (fi *fnInfo) paramList() string {
	var b strings.Builder
	b.WriteString("ctx context.Context")
	for _, p := range fi.params {
		fmt.Fprintf(&b, ", %s %s", p.name, p.t.goT)
	}
	return b.String()
}

func (fi *fnInfo) paramTypes() string {
	var b strings.Builder
	b.WriteString("context.Context")
	for _, p := range fi.params {
		fmt.Fprintf(&b, ", %s", p.t.goT)
	}
	return b.String()
}

func (fi *fnInfo) args() string {
	var b strings.Builder
	for _, p := range fi.params {
		fmt.Fprintf(&b, ", %s", p.name)
	}
	return b.String()
}

// results returns the result list, named (for stubs) or not.
func (fi *fnInfo) results(named bool) string {
	var rs []string
	add := func(n, t string) {
		if named {
			rs = append(rs, n+" "+t)
		} else {
			rs = append(rs, t)
		}
	}
	if fi.ret != nil {
		add("xret", fi.ret.goT)
	}
	if fi.f.PropagateErrno {
		add("xerrno", "int32")
	}
	add("xerr", "error")
	if len(rs) == 1 && !named {
		return rs[0]
	}
	return "(" + strings.Join(rs, ", ") + ")"
}

func (fi *fnInfo) resultVars() string {
	var rs []string
	if fi.ret != nil {
		rs = append(rs, "xret")
	}
	if fi.f.PropagateErrno {
		rs = append(rs, "xerrno")
	}
	return strings.Join(append(rs, "xerr"), ", ")
}

func (fi *fnInfo) describe() string {
	kind := "trusted function (ecall"
	if !fi.f.Trusted {
		kind = "untrusted function (ocall"
	}
	s := fmt.Sprintf("the %s %d) %s", kind, fi.id, fi.f.Name)
	if fi.f.PropagateErrno {
		s += "; the int32 result is the errno the callee reported"
	}
	return s
}

func (g *gen) typesBody() string {
	var b strings.Builder
	if len(g.funcs) > 0 {
		b.WriteString("// Function IDs: trusted and untrusted functions are each numbered from 0 in declaration order.\nconst (\n")
		for _, fi := range g.funcs {
			fmt.Fprintf(&b, "\t%s uint32 = %d // %s\n", fi.idName, fi.id, fi.f.Name)
		}
		b.WriteString(")\n\n")
	}
	for _, ft := range g.order {
		b.WriteString(g.typeCode[ft])
	}
	for _, fi := range g.funcs {
		b.WriteString(g.caller(fi))
		b.WriteString(g.server(fi))
	}
	return b.String()
}

func (g *gen) caller(fi *fnInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// xcall%s marshals a call to %s over xcall.\n", fi.goName, fi.f.Name)
	fmt.Fprintf(&b, "func xcall%s(ctx context.Context, xcall %s, xbase error", fi.goName, transportType)
	for _, p := range fi.params {
		fmt.Fprintf(&b, ", %s %s", p.name, p.t.goT)
	}
	fmt.Fprintf(&b, ") %s {\n", fi.results(true))
	look := fi.lookup()
	estimate := []string{"16"}
	for _, p := range fi.params {
		if p.kind == fSlice && (p.size != nil || p.count != nil) {
			want, _ := g.sizeExpr(p, look)
			fmt.Fprintf(&b, "{\nvar xc wire.Calc\nif xn := %s; !xc.OK() || xn != uint64(len(%s)) {\nxerr = wire.Mismatch(xbase, %q, \"length does not match its declared size\")\nreturn\n}\n}\n", want, p.name, fi.f.Name+": "+p.d.Name)
		}
		switch {
		case p.kind == fSlice && p.in && p.t.elem.goT == "byte", p.kind == fString:
			estimate = append(estimate, "len("+p.name+")")
		case p.kind == fWString:
			estimate = append(estimate, "4*len("+p.name+")")
		}
		if p.t.fixed > 0 {
			estimate[0] = fmt.Sprint(atoi(estimate[0]) + p.t.fixed)
		} else {
			estimate[0] = fmt.Sprint(atoi(estimate[0]) + 16)
		}
	}
	fmt.Fprintf(&b, "w := wire.NewWriter(%s)\n", strings.Join(estimate, "+"))
	for _, p := range fi.params {
		switch {
		case p.kind == fString:
			fmt.Fprintf(&b, "if xerr = w.String(xbase, %s); xerr != nil {\nreturn\n}\n", p.name)
		case p.kind == fWString:
			fmt.Fprintf(&b, "if xerr = w.WString(xbase, %s); xerr != nil {\nreturn\n}\n", p.name)
		case p.kind == fSlice && !p.in:
			fmt.Fprintf(&b, "w.Len(len(%s))\n", p.name)
		case p.kind == fPtr && !p.in:
			fmt.Fprintf(&b, "w.Bool(%s != nil)\n", p.name)
		default:
			b.WriteString(enc(p.t, p.name, 0))
		}
	}
	fmt.Fprintf(&b, "var xres []byte\nif xres, xerr = xcall(ctx, %s, w.Bytes()); xerr != nil {\nreturn\n}\n", fi.idName)
	b.WriteString("r := wire.NewReader(xres, xbase)\n")
	if fi.ret != nil {
		b.WriteString(dec(fi.ret, "xret", 0))
	}
	for _, p := range fi.params {
		if !p.out {
			continue
		}
		switch p.kind {
		case fSlice:
			b.WriteString(decInto(p.t, p.name))
		case fPtr:
			fmt.Fprintf(&b, "if xp := r.Present(); r.Err() == nil && xp != (%s != nil) {\nr.Fail(%q, \"presence differs from the request\")\n} else if xp {\n%s}\n", p.name, fi.f.Name+": "+p.d.Name, dec(p.t.elem, "(*"+p.name+")", 0))
		}
	}
	if fi.f.PropagateErrno {
		b.WriteString("xerrno = int32(r.U32())\n")
	}
	b.WriteString("xerr = r.Done()\nreturn\n}\n\n")
	return b.String()
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func (g *gen) server(fi *fnInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// xserve%s unmarshals and checks a call to %s, runs impl and marshals its results.\n", fi.goName, fi.f.Name)
	fmt.Fprintf(&b, "func xserve%s(ctx context.Context, xin []byte, xbase error, impl func(%s) %s) ([]byte, error) {\n", fi.goName, fi.paramTypes(), fi.results(false))
	b.WriteString("r := wire.NewReader(xin, xbase)\n")
	for i, p := range fi.params {
		fmt.Fprintf(&b, "var %s %s\n", p.name, p.t.goT)
		switch {
		case p.kind == fString:
			fmt.Fprintf(&b, "%s = r.String()\n", p.name)
		case p.kind == fWString:
			fmt.Fprintf(&b, "%s = r.WString()\n", p.name)
		case p.kind == fSlice && !p.in:
			fmt.Fprintf(&b, "xn%d := r.OutLen(%d)\n", i, max(p.t.elem.min, 1))
		case p.kind == fPtr && !p.in:
			fmt.Fprintf(&b, "xp%d := r.Present()\n", i)
		default:
			b.WriteString(dec(p.t, p.name, 0))
		}
	}
	b.WriteString("if err := r.Done(); err != nil {\nreturn nil, err\n}\n")
	look := fi.lookup()
	for i, p := range fi.params {
		if p.kind != fSlice || (p.size == nil && p.count == nil) {
			continue
		}
		want, _ := g.sizeExpr(p, look)
		got := "len(" + p.name + ")"
		if !p.in {
			got = fmt.Sprintf("xn%d", i)
		}
		fmt.Fprintf(&b, "{\nvar xc wire.Calc\nif xn := %s; !xc.OK() || xn != uint64(%s) {\nr.Fail(%q, \"length does not match its declared size\")\nreturn nil, r.Err()\n}\n}\n", want, got, fi.f.Name+": "+p.d.Name)
	}
	for i, p := range fi.params {
		switch {
		case p.kind == fSlice && !p.in:
			fmt.Fprintf(&b, "%s = make(%s, xn%d)\n", p.name, p.t.goT, i)
		case p.kind == fPtr && !p.in:
			fmt.Fprintf(&b, "if xp%d {\n%s = new(%s)\n}\n", i, p.name, p.t.elem.goT)
		}
	}
	fmt.Fprintf(&b, "%s := impl(ctx%s)\nif xerr != nil {\nreturn nil, xerr\n}\n", fi.resultVars(), fi.args())
	estimate := []string{"16"}
	for _, p := range fi.params {
		if p.out && p.kind == fSlice && p.t.elem.goT == "byte" {
			estimate = append(estimate, "len("+p.name+")")
		}
	}
	fmt.Fprintf(&b, "w := wire.NewWriter(%s)\n", strings.Join(estimate, "+"))
	if fi.ret != nil {
		b.WriteString(enc(fi.ret, "xret", 0))
	}
	for _, p := range fi.params {
		if p.out {
			b.WriteString(enc(p.t, p.name, 0))
		}
	}
	if fi.f.PropagateErrno {
		b.WriteString("w.U32(uint32(xerrno))\n")
	}
	b.WriteString("return w.Bytes(), nil\n}\n\n")
	return b.String()
}

func (g *gen) trustedBody() string {
	var b strings.Builder
	b.WriteString("// Trusted is implemented inside the enclave: one method per trusted function (ecall).\ntype Trusted interface {\n")
	for _, fi := range g.funcs {
		if fi.f.Trusted && fi.f.Public {
			fmt.Fprintf(&b, "// %s implements %s.\n%s(%s) %s\n", fi.goName, fi.describe(), fi.goName, fi.paramList(), fi.results(false))
		}
	}
	b.WriteString("}\n\n")
	b.WriteString("// Ecalls returns the ecall table for enclave.Run, dispatching to impl after checking every received buffer.\nfunc Ecalls(impl Trusted) enclave.Ecalls {\nreturn enclave.Ecalls{\n")
	for _, fi := range g.funcs {
		if fi.f.Trusted && fi.f.Public {
			fmt.Fprintf(&b, "%s: func(ctx context.Context, in []byte) ([]byte, error) {\nreturn xserve%s(ctx, in, enclave.ErrInvalidParameter, impl.%s)\n},\n", fi.idName, fi.goName, fi.goName)
		}
	}
	b.WriteString("}\n}\n\n")
	for _, fi := range g.funcs {
		if fi.f.Trusted {
			continue
		}
		call := "enclave.Ocall"
		if fi.f.Switchless {
			call = "enclave.OcallSwitchless"
		}
		fmt.Fprintf(&b, "// %s calls %s in the host.\nfunc %s(%s) %s {\nreturn xcall%s(ctx, %s, enclave.ErrInvalidParameter%s)\n}\n\n",
			fi.goName, fi.describe(), fi.goName, fi.paramList(), fi.results(false), fi.goName, call, fi.args())
	}
	return b.String()
}

func (g *gen) untrustedBody() string {
	var b strings.Builder
	b.WriteString("// Client makes typed ecalls into an enclave loaded with host.Load.\ntype Client struct {\ne *host.Enclave\n}\n\n")
	b.WriteString("// NewClient returns a Client that calls into e.\nfunc NewClient(e *host.Enclave) *Client { return &Client{e: e} }\n\n")
	for _, fi := range g.funcs {
		if !fi.f.Trusted || !fi.f.Public {
			continue
		}
		call := "c.e.Call"
		if fi.f.Switchless {
			call = "c.e.CallSwitchless"
		}
		fmt.Fprintf(&b, "// %s calls %s in the enclave.\nfunc (c *Client) %s(%s) %s {\nreturn xcall%s(ctx, %s, host.ErrInvalidParameter%s)\n}\n\n",
			fi.goName, fi.describe(), fi.goName, fi.paramList(), fi.results(false), fi.goName, call, fi.args())
	}
	b.WriteString("// Untrusted is implemented by the host: one method per untrusted function (ocall).\ntype Untrusted interface {\n")
	for _, fi := range g.funcs {
		if !fi.f.Trusted {
			fmt.Fprintf(&b, "// %s implements %s.\n%s(%s) %s\n", fi.goName, fi.describe(), fi.goName, fi.paramList(), fi.results(false))
		}
	}
	b.WriteString("}\n\n")
	b.WriteString("// Ocalls returns the ocall table for host.Options.Ocalls, dispatching to impl after checking every received buffer.\nfunc Ocalls(impl Untrusted) map[uint32]host.OcallFunc {\nreturn map[uint32]host.OcallFunc{\n")
	for _, fi := range g.funcs {
		if !fi.f.Trusted {
			fmt.Fprintf(&b, "%s: func(ctx context.Context, in []byte) ([]byte, error) {\nreturn xserve%s(ctx, in, host.ErrInvalidParameter, impl.%s)\n},\n", fi.idName, fi.goName, fi.goName)
		}
	}
	b.WriteString("}\n}\n")
	return b.String()
}
