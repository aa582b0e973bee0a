// Package placeholders rewrites SQL written with ? placeholders (SQLite's
// style) into PostgreSQL's $1, $2, … so the same statements serve both
// stores. It is meant for the project's own statements, which never hold a
// ? inside a string literal or identifier.
package placeholders

import (
	"strconv"
	"strings"
)

// Dollar returns q with each ? replaced by $n, numbered from 1 in order.
func Dollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
