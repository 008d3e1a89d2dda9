package secopsout

import (
	"errors"
	"testing"
	"time"
)

func TestDecodeChunkValuesHandsOverNonMapBodies(t *testing.T) {
	chunk := dtEnc([]any{1, dtMap{{"a", "b"}}})
	off := len(chunk)
	chunk = append(chunk, dtEnc([]any{2, "text"})...)
	chunk = append(chunk, dtEnc([]any{3, dtMap{{"c", 1}}})...)
	var got []Value
	if err := DecodeChunkValues(chunk, func(v Value) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].IsMap() || got[1].IsMap() || !got[2].IsMap() {
		t.Fatalf("values %+v", got)
	}
	if got[1].Record != 1 || got[1].Offset != off+2 || got[1].Time.Unix() != 2 || got[1].Body[0] != 0xa4 {
		t.Errorf("non-map value %+v (chunk offset of its body %d)", got[1], off+2)
	}
	// DecodeChunk still refuses it, at the same place.
	err := DecodeChunk(chunk, func(_ time.Time, _, _ RawMap) error { return nil })
	var de *DecodeError
	if !errors.As(err, &de) || de.Record != 1 || de.Offset != off+2 || de.Reason != "record body is not a map" {
		t.Errorf("DecodeChunk: %v", err)
	}
}
