package flb

// KeyDoc documents one configuration key: its name, its documented default
// as Fluent Bit would show it ("" when the default is not a plain value,
// e.g. "required" or "from the environment") and a one-line description.
// The cgo layers turn these into the config map Fluent Bit validates keys
// against.
type KeyDoc struct {
	Name, Default, Desc string
}
