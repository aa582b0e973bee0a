package edl

// File is one parsed EDL file, before imports are resolved.
type File struct {
	Path      string
	Includes  []string
	Imports   []*Import
	Types     []*TypeDecl
	Trusted   []*Func
	Untrusted []*Func
}

// Import is a `from "path" import names;` statement; Names is nil for `*`.
type Import struct {
	Pos   Pos
	Path  string
	Names []string
}

// TypeKind distinguishes struct, union and enum declarations.
type TypeKind int

// Kinds of user-defined types.
const (
	KindStruct TypeKind = iota + 1
	KindUnion
	KindEnum
)

// TypeDecl is a struct, union or enum declaration.
type TypeDecl struct {
	Pos         Pos
	Kind        TypeKind
	Name        string
	Fields      []*Decl       // struct and union members
	Enumerators []*Enumerator // enum values
}

// Enumerator is one enum constant; Value is nil when implicit.
type Enumerator struct {
	Pos   Pos
	Name  string
	Value *Expr
}

// TypeRef is a C type as written: base name, pointer depth and const.
type TypeRef struct {
	Pos   Pos
	Const bool
	Tag   string // "struct", "union", "enum" or ""
	Name  string // canonical base name, e.g. "unsigned int", "uint8_t", "oe_pollfd"
	Ptr   int    // number of '*'
}

// Attrs are the bracketed attributes before a parameter or member.
type Attrs struct {
	Pos       Pos
	Present   bool
	In, Out   bool
	String    bool
	WString   bool
	UserCheck bool
	IsPtr     bool
	IsAry     bool
	ReadOnly  bool
	Size      *Expr
	Count     *Expr
}

// Decl is a function parameter or a struct/union member.
type Decl struct {
	Pos   Pos
	Attrs Attrs
	Type  TypeRef
	Name  string
	Dims  []*Expr
}

// Func is a trusted (ecall) or untrusted (ocall) function.
type Func struct {
	Pos            Pos
	Name           string
	Ret            TypeRef
	Params         []*Decl
	Public         bool
	Switchless     bool
	PropagateErrno bool
	Allow          []string
	Trusted        bool
	File           string // file that declares it
}

// Expr is a size, count, array-dimension or enum-value expression.
type Expr struct {
	Pos  Pos
	Op   byte // 'n' number, 'i' identifier, 's' sizeof, or one of + - * /
	Num  uint64
	Name string
	Type *TypeRef
	L, R *Expr
}
