package digicertin

import (
	"context"
	"log/slog"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// slogHandler returns an slog.Handler that writes through l, so packages that
// take a *slog.Logger (the digicert client) log through Fluent Bit too.
func slogHandler(l flb.Logger) slog.Handler { return &slogBridge{l: l} }

type slogBridge struct {
	l     flb.Logger
	attrs []any
}

func (h *slogBridge) Enabled(context.Context, slog.Level) bool { return true }

func (h *slogBridge) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Resolve().String())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.l.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.l.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.l.Info(r.Message, args...)
	default:
		h.l.Debug(r.Message, args...)
	}
	return nil
}

func (h *slogBridge) WithAttrs(as []slog.Attr) slog.Handler {
	n := &slogBridge{l: h.l, attrs: append([]any(nil), h.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.Resolve().String())
	}
	return n
}

// WithGroup is accepted but groups are flattened: Fluent Bit lines are flat.
func (h *slogBridge) WithGroup(string) slog.Handler { return h }
