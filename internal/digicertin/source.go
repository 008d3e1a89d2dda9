package digicertin

import (
	"context"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
)

// source is what the poller needs from DigiCert. *digicert.Client provides it
// (through clientSource); tests substitute fakes to inject failures exactly.
type source interface {
	Report(ctx context.Context, reportID string) (digicert.ReportInfo, error)
	RunReport(ctx context.Context, reportID string, w digicert.WaitOptions) ([]digicert.Run, error)
	ReadyRuns(ctx context.Context, reportID string) ([]digicert.Run, error)
	Open(ctx context.Context, run digicert.Run) (rowIterator, error)
}

// rowIterator is *digicert.Rows.
type rowIterator interface {
	Next() bool
	Row() digicert.Row
	Members() []digicert.Member // where Row's members are; nil if unknown
	Keys() *digicert.Keys       // the key ids in Members; nil if none
	Err() error
	Part() int
	Stats() digicert.RowStats // rows repaired or skipped as malformed
	Close() error
}

type clientSource struct{ *digicert.Client }

func (c clientSource) Open(ctx context.Context, run digicert.Run) (rowIterator, error) {
	rows, err := c.Client.Open(ctx, run)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return rows, nil
}

// ReadyRuns lists every READY run of the report in history, oldest first.
func (c clientSource) ReadyRuns(ctx context.Context, reportID string) ([]digicert.Run, error) {
	return c.History(ctx, digicert.HistoryQuery{ReportID: reportID, Statuses: []string{digicert.StatusReady}})
}
