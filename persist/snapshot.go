package persist

// Add returns d with one more blacklisted entry, (jti, exp), counted: the
// digest a store holding d's entries and this one would have. A snapshot
// writer sums the entries it writes, so that a reader can check what it
// loaded.
func (d Digest) Add(jti string, exp int64) Digest {
	return Digest{Count: d.Count + 1, Sum: d.Sum + digestHash(jti, exp)}
}
