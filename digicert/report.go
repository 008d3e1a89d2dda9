package digicert

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
)

// ReportInfo is what the client needs from a report's details.
type ReportInfo struct {
	ID, DisplayName, ReportType string
	Format                      []string // formats the report produces, e.g. ["JSON"]
	Status                      string   // e.g. "ACTIVE"
}

// HasFormat reports whether the report produces format (e.g. "JSON").
// Only the format chosen at creation can be downloaded.
func (r ReportInfo) HasFormat(format string) bool {
	return slices.ContainsFunc(r.Format, func(f string) bool { return strings.EqualFold(f, format) })
}

type reportDetails struct {
	Report struct {
		ReportIdentifier  string      `json:"report_identifier"`
		ReportDisplayName string      `json:"report_display_name"`
		ReportType        string      `json:"report_type"`
		Format            flexStrings `json:"format"`
		Status            string      `json:"status"`
		ReportMetadata    struct {
			ReportType string `json:"report_type"`
		} `json:"report_metadata"`
	} `json:"report"`
}

// Report fetches a report's details: use it at startup to check that the
// report exists, that the key can see it and that it produces JSON.
func (c *Client) Report(ctx context.Context, reportID string) (ReportInfo, error) {
	if reportID == "" {
		return ReportInfo{}, errors.New("digicert: report id is empty")
	}
	var d reportDetails
	err := c.getJSON(ctx, call{
		target: target{op: "get report", reportID: reportID},
		path:   "/report/" + url.PathEscape(reportID),
	}, &d)
	if err != nil {
		return ReportInfo{}, err
	}
	r := d.Report
	info := ReportInfo{ID: r.ReportIdentifier, DisplayName: r.ReportDisplayName, ReportType: r.ReportType, Format: r.Format, Status: r.Status}
	if info.ReportType == "" {
		info.ReportType = r.ReportMetadata.ReportType
	}
	if info.ID == "" {
		info.ID = reportID
	}
	return info, nil
}
