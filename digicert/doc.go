// Package digicert is a client for the DigiCert CertCentral Report Library API
// ("Reports API"), built for carrying audit-log reports into Google SecOps.
//
// It starts report runs and waits for them (StartRun, WaitRun, RunReport),
// follows runs started by a schedule without triggering any (ReadyRunsAfter),
// and streams the rows of a run (Open) without ever holding a whole report in
// memory: each part is spilled to a temporary file, ZIP bodies are read member
// by member, and rows are decoded by a hand-written streaming tokenizer.
//
// Runs are always identified by id (the id returned by POST …/run, or the set
// difference of run ids in history before and after it), never by comparing
// history timestamps with the local clock: DigiCert does not say which zone
// those timestamps are in.
//
// Every request goes through a client-side rate limiter (DigiCert's published
// 100 requests per 5 s and 1000 per 3 min by default) and is retried with
// exponential backoff on 5xx, 429, connection errors and timeouts. The API key
// never appears in errors, logs or printed values.
package digicert
