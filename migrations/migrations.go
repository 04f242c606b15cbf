// Package migrations holds the versioned SQL schema, embedded in the binary. Files are numbered,
// applied in order by goose (see internal/database), each in its own transaction together with its
// version row. Comments in each file say why the schema is shaped as it is.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
