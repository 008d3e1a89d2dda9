package digicertin

import (
	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// RowIdent gives the external tests the row identity (identity.go).
type RowIdent struct{ ri rowIdent }

func NewRowIdent(k0, k1 uint64) *RowIdent {
	return &RowIdent{rowIdent{key: hashKey{k0, k1}, timeKey: digicert.EventTimeField}}
}

func (r *RowIdent) Sum(row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) ([16]byte, []byte, error) {
	return r.ri.sum(row, members, keys)
}

// BodyHash is the row hash of format version 3: the keyed hash of the
// row's msgpack body.
func BodyHash(k0, k1 uint64, body []byte) [16]byte { return hashKey{k0, k1}.sum(body) }
