package jsonbytes

// Keys interns the object keys of a stream of rows: a report's rows all have
// the same few dozen keys, so a decoder that recognises a key by comparing
// it with the one it saw at the same place in the previous row need not scan
// it, and an encoder can look up a key's encoding by id instead of comparing
// bytes. Only keys without escapes are interned; their text is exactly the
// bytes between the quotes.
//
// Ids start at 1 and never change meaning within a generation. When the
// table is full it starts over: Gen changes, and every id handed out before
// means nothing any more. Not safe for concurrent use.
type Keys struct {
	text []byte   // the keys' bytes, one after another
	ends []uint32 // ends[id-1] is where key id ends in text
	ids  map[string]uint32
	gen  uint64
}

// Bounds for rows whose keys keep changing: past them the table starts over.
const (
	maxKeys     = 4096
	maxKeyBytes = 256 << 10
)

// Intern returns key's id, adding the key if it is new. key must be a
// valid JSON string body without escapes. It returns 0 for a key too large
// to keep.
func (k *Keys) Intern(key []byte) uint32 {
	if id, ok := k.ids[string(key)]; ok {
		return id
	}
	if len(key) > maxKeyBytes/16 {
		return 0
	}
	if len(k.ends) >= maxKeys || len(k.text)+len(key) > maxKeyBytes || k.ids == nil {
		k.reset()
	}
	k.text = append(k.text, key...)
	k.ends = append(k.ends, uint32(len(k.text)))
	id := uint32(len(k.ends))
	k.ids[string(key)] = id
	return id
}

func (k *Keys) reset() {
	k.text, k.ends = k.text[:0], k.ends[:0]
	k.ids = make(map[string]uint32)
	k.gen++
}

// Key returns the text of key id (valid ids only; do not modify it).
func (k *Keys) Key(id uint32) []byte {
	start := uint32(0)
	if id > 1 {
		start = k.ends[id-2]
	}
	return k.text[start:k.ends[id-1]:k.ends[id-1]]
}

// Len is the number of keys; valid ids are 1 to Len.
func (k *Keys) Len() int { return len(k.ends) }

// Gen identifies the current numbering; it changes when the table starts over.
func (k *Keys) Gen() uint64 { return k.gen }
