// Package governance keeps a clean room's governance log: an append-only,
// hash-chained file recording contract proposals and the parties'
// signatures, so anyone holding the file can replay who agreed to what, and
// any edit, deletion or reordering shows up as the first broken record.
//
// The file holds one JSON object per line:
//
//	{"seq":1,"prev":"<hex>","hash":"<hex>","payload":{...entry...}}
//
// where hash links the record into the chain as internal/hashchain defines
// over the exact payload bytes. See spec/cleanroom.md.
package governance
