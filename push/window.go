package push

// entry is one message kept for resume.
type entry struct {
	seq   uint64
	at    int64    // unix ns when published
	addr  [20]byte // the account, in the account window
	frame []byte
}

// window is the bounded recent history of a channel kind: a ring of entries in seq order.
// floor is the highest seq that is no longer complete in it (evicted, or the index the hub
// started or reset at): a client that has everything up to since >= floor can be replayed
// exactly; below, it is reset.
type window struct {
	ring  []entry
	head  int // index of the oldest entry
	n     int
	floor uint64
}

func (w *window) init(capacity int) {
	w.ring = make([]entry, 0, min(capacity, 64))
}

func (w *window) push(e entry) {
	if w.n == len(w.ring) {
		w.grow()
	}
	w.ring[(w.head+w.n)%len(w.ring)] = e
	w.n++
}

// grow doubles the ring (it starts small: most kinds never fill it).
func (w *window) grow() {
	size := max(2*len(w.ring), 16)
	r := make([]entry, size)
	for i := range w.n {
		r[i] = w.ring[(w.head+i)%len(w.ring)]
	}
	w.ring, w.head = r, 0
}

// evict drops the oldest entries beyond max and those published before minAt.
func (w *window) evict(max int, minAt int64) {
	for w.n > 0 {
		e := &w.ring[w.head]
		if w.n <= max && e.at >= minAt {
			return
		}
		if e.seq > w.floor {
			w.floor = e.seq
		}
		*e = entry{}
		w.head = (w.head + 1) % len(w.ring)
		w.n--
	}
}

// clearTo empties the window: nothing at or below index can be replayed.
func (w *window) clearTo(index uint64) {
	for i := range w.n {
		w.ring[(w.head+i)%len(w.ring)] = entry{}
	}
	w.head, w.n = 0, 0
	w.floor = max(w.floor, index)
}

// each calls f on every entry after since, oldest first.
func (w *window) each(since uint64, f func(*entry)) {
	// Entries are in seq order: skip to the first after since by binary search.
	lo, hi := 0, w.n
	for lo < hi {
		mid := (lo + hi) / 2
		if w.ring[(w.head+mid)%len(w.ring)].seq <= since {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < w.n; i++ {
		f(&w.ring[(w.head+i)%len(w.ring)])
	}
}
