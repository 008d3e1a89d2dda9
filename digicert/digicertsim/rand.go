package digicertsim

// prng is a splitmix64 stream: tiny, fast and fully determined by its seed,
// so any event can be regenerated from (seed, hour, index) alone.
type prng struct{ s uint64 }

func newPRNG(parts ...uint64) *prng {
	p := &prng{s: 0x243f6a8885a308d3}
	for _, v := range parts {
		p.s ^= v
		p.next()
	}
	return p
}

func (p *prng) next() uint64 {
	p.s += 0x9e3779b97f4a7c15
	z := p.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n must be > 0.
func (p *prng) intn(n int) int { return int(p.next() % uint64(n)) }

func pick[T any](p *prng, xs []T) T { return xs[p.intn(len(xs))] }
