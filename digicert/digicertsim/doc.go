// Package digicertsim simulates the DigiCert CertCentral Report Library API
// (https://api.digicert.com/reports/v1) closely enough to test a client of
// it: API-key auth and its error bodies, report details, POST …/run, report
// history with paging and filters, run lifecycle (GENERATING → READY or
// FAILED), /json and /download bodies (plain JSON arrays or ZIP files, split
// runs) and injected faults.
//
// Faults (Server.Inject, or the digicert-sim -faults flag / the
// DIGICERT_SIM_FAULTS variable, parsed by ParseFault) cover the network and
// the API (FaultRateLimit, FaultStatus, FaultReset, FaultDelay), damaged
// downloads (FaultTruncate, FaultSlowBody), hostile or broken content —
// FaultBadRow (one malformed row: invalid UTF-8, raw control characters,
// oversize, too deep, unparseable), FaultTrickle (a body at a few bytes per
// second), FaultOverlapZip (a ZIP bomb of overlapping entries),
// FaultRepeatPage (history ignoring offset) — and run lifecycle trouble
// (FaultFailRun, FaultStuckRun). Each is consumed by the first matching
// requests (Fault.Times), so a test can say "the next 3 downloads".
//
// Audit events are generated deterministically from a seed on a simulated
// clock. Each run snapshots the events of [now-Window, now] at creation, so
// consecutive runs overlap as real runs do. Rows are rendered on the fly from
// a compact per-hour event index, so runs of millions of rows can be served
// without holding them in memory.
//
// The package deliberately does not import the client package: it is an
// independent oracle for it.
package digicertsim
