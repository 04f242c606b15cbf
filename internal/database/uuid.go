package database

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUID teaches a connection's type map to send and receive uuid.UUID as PostgreSQL's binary
// uuid directly.
//
// Parameters: without it pgx takes uuid.UUID through driver.Valuer on every parameter: Value()
// formats the text form, the binary encoding of that string fails (an error built with fmt), then
// the text is parsed back and encoded. That detour measured here at about a sixth of the Go CPU of
// an append. An encode wrapper (TryWrapEncodePlanFuncs) catches uuid.UUID before that.
//
// Results: pgx asks a column type's codec first, then takes any sql.Scanner target through
// database/sql's path, and only then the scan wrappers; uuid.UUID is a sql.Scanner, so a wrapper
// is never reached, and each scanned uuid was formatted as text, allocated and parsed back (5.5%
// of a board read's allocations). The uuid type (and its array, whose elements the array codec
// plans with the element type's codec) gets a codec that scans *uuid.UUID itself.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncode}, m.TryWrapEncodePlanFuncs...)
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
}

func tryWrapUUIDEncode(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if id, ok := value.(uuid.UUID); ok {
		return &uuidEncodePlan{}, pgtype.UUID{Bytes: id, Valid: true}, true
	}
	return nil, nil, false
}

type uuidEncodePlan struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgtype.UUID{Bytes: value.(uuid.UUID), Valid: true}, buf)
}

// uuidCodec is pgx's UUIDCodec that scans into *uuid.UUID directly; every other target is
// UUIDCodec's.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		if format == pgtype.BinaryFormatCode {
			return scanUUIDBinary{}
		}
		return scanUUIDText{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

// scanUUIDBinary and scanUUIDText leave the target as it is on a NULL, as uuid.UUID's Scan (the
// path they replace) does.
type scanUUIDBinary struct{}

func (scanUUIDBinary) Scan(src []byte, target any) error {
	if src == nil {
		return nil
	}
	if len(src) != 16 {
		return fmt.Errorf("invalid length for uuid: %d", len(src))
	}
	copy(target.(*uuid.UUID)[:], src)
	return nil
}

type scanUUIDText struct{}

func (scanUUIDText) Scan(src []byte, target any) error {
	if src == nil {
		return nil
	}
	u, err := uuid.ParseBytes(src)
	if err != nil {
		return fmt.Errorf("scan uuid: %w", err)
	}
	*target.(*uuid.UUID) = u
	return nil
}
