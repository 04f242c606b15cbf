package database

import (
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUID teaches a connection's type map to send and receive uuid.UUID as PostgreSQL's binary
// uuid directly. Without it pgx takes uuid.UUID through driver.Valuer on every parameter: Value()
// formats the text form, the binary encoding of that string fails (an error built with fmt), then
// the text is parsed back and encoded. That detour measured here at about a sixth of the Go CPU of
// an append; scans went through sql.Scanner and the text form likewise.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncode}, m.TryWrapEncodePlanFuncs...)
	m.TryWrapScanPlanFuncs = append([]pgtype.TryWrapScanPlanFunc{tryWrapUUIDScan}, m.TryWrapScanPlanFuncs...)
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

func tryWrapUUIDScan(target any) (pgtype.WrappedScanPlanNextSetter, any, bool) {
	if _, ok := target.(*uuid.UUID); ok {
		return &uuidScanPlan{}, &pgtype.UUID{}, true
	}
	return nil, nil, false
}

type uuidScanPlan struct{ next pgtype.ScanPlan }

func (p *uuidScanPlan) SetNext(next pgtype.ScanPlan) { p.next = next }

func (p *uuidScanPlan) Scan(src []byte, target any) error {
	var u pgtype.UUID
	if err := p.next.Scan(src, &u); err != nil {
		return err
	}
	if !u.Valid {
		return errors.New("cannot scan NULL into *uuid.UUID")
	}
	*target.(*uuid.UUID) = u.Bytes
	return nil
}
