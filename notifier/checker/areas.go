package checker

// areaSet is an ordered set of non-overlapping mappings keyed by IOVA: a
// treap, so that inserting, removing and finding an overlap cost O(log n)
// whatever the order of the events. The zero value is empty.
type areaSet struct {
	root *node
	n    int
	seed uint64 // splitmix64 state for node priorities
}

type node struct {
	m           Mapping
	prio        uint64
	left, right *node
}

func (s *areaSet) len() int { return s.n }

// floor returns the area with the greatest IOVA <= iova.
func (s *areaSet) floor(iova uint64) *node {
	var best *node
	for t := s.root; t != nil; {
		if t.m.IOVA <= iova {
			best, t = t, t.right
		} else {
			t = t.left
		}
	}
	return best
}

// ceil returns the area with the least IOVA >= iova.
func (s *areaSet) ceil(iova uint64) *node {
	var best *node
	for t := s.root; t != nil; {
		if t.m.IOVA >= iova {
			best, t = t, t.left
		} else {
			t = t.right
		}
	}
	return best
}

// containing returns the area that contains iova.
func (s *areaSet) containing(iova uint64) (Mapping, bool) {
	if f := s.floor(iova); f != nil && f.m.Last() >= iova {
		return f.m, true
	}
	return Mapping{}, false
}

// firstOverlap returns the area with the lowest IOVA that overlaps
// [first, last].
func (s *areaSet) firstOverlap(first, last uint64) (Mapping, bool) {
	if m, ok := s.containing(first); ok {
		return m, true
	}
	if c := s.ceil(first); c != nil && c.m.IOVA <= last {
		return c.m, true
	}
	return Mapping{}, false
}

// insert adds m, which must not overlap any area.
func (s *areaSet) insert(m Mapping) {
	s.seed += 0x9e3779b97f4a7c15
	z := s.seed
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	l, r := split(s.root, m.IOVA)
	s.root = merge(merge(l, &node{m: m, prio: z ^ z>>31}), r)
	s.n++
}

// remove deletes the area that starts at iova, if any.
func (s *areaSet) remove(iova uint64) {
	l, r := split(s.root, iova)
	var mid *node
	if iova == ^uint64(0) {
		mid, r = r, nil
	} else {
		mid, r = split(r, iova+1)
	}
	if mid != nil {
		s.n--
	}
	s.root = merge(l, r)
}

// appendAll appends every area in ascending IOVA order.
func (s *areaSet) appendAll(dst []Mapping) []Mapping {
	var walk func(t *node)
	walk = func(t *node) {
		for t != nil {
			walk(t.left)
			dst = append(dst, t.m)
			t = t.right
		}
	}
	walk(s.root)
	return dst
}

// split cuts t into the areas with IOVA < key and those with IOVA >= key.
func split(t *node, key uint64) (*node, *node) {
	if t == nil {
		return nil, nil
	}
	if t.m.IOVA < key {
		l, r := split(t.right, key)
		t.right = l
		return t, r
	}
	l, r := split(t.left, key)
	t.left = r
	return l, t
}

// merge joins a and b, where every IOVA in a is below every IOVA in b.
func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = merge(a.right, b)
		return a
	default:
		b.left = merge(a, b.left)
		return b
	}
}
