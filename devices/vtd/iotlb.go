package vtd

import (
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/dma"
)

// IOTLB geometry: a set-associative cache of tlbSets sets of tlbWays ways.
const (
	tlbSetsLog = 10
	tlbSets    = 1 << tlbSetsLog
	tlbWays    = 4
	// IOTLBEntries is the capacity of the unit's IOTLB: the most leaf
	// translations it caches at once. When a set is full one entry is
	// evicted (round robin); the IOTLB is never flushed for lack of room.
	IOTLBEntries = tlbSets * tlbWays
)

// tlbEntry is one cached leaf translation (VT-d spec 6.2.2, "IOTLB"),
// tagged with the domain (DID) and requester (SID) that produced it. It is
// immutable except for dead, which is set when the entry is invalidated or
// evicted: holders of a pointer (the address spaces' first-level caches) check
// it before use.
type tlbEntry struct {
	iova   uint64 // first IOVA of the page, aligned to mask+1
	key    uint64 // tlbKey(did, sid, level): the tag besides iova
	gpa    uint64 // first guest-physical address of the page
	mask   uint64 // page size - 1
	did    uint16
	sid    uint16
	level  uint8 // 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB)
	perm   dma.Access
	window bool // the page's IOVA or GPA range meets the interrupt address range
	dead   atomic.Bool
}

// tlbKey packs the tag of an entry other than its IOVA into one word.
func tlbKey(did, sid uint16, level int) uint64 {
	return uint64(did) | uint64(sid)<<16 | uint64(level)<<32
}

func (e *tlbEntry) last() uint64 { return e.iova + e.mask }

// iotlb is the unit's IOTLB. Lookups are lock-free (atomic loads of
// immutable entries); insertions and invalidations take mu. It never holds
// a translation for a not-present entry: only successful walks are cached.
type iotlb struct {
	mu     sync.Mutex
	slot   [tlbSets][tlbWays]atomic.Pointer[tlbEntry]
	victim [tlbSets]uint8
}

// tlbHash returns the set of the page pfn (IOVA >> page shift) at level in
// domain did. The SID is not hashed so that page-selective invalidations,
// which name a domain and not a requester, find every device's entries.
func tlbHash(did uint16, level int, pfn uint64) uint32 {
	h := (pfn ^ uint64(did)<<40 ^ uint64(level)<<58) * 0x9e3779b97f4a7c15
	return uint32(h >> (64 - tlbSetsLog))
}

// lookup returns the live entry of (did, sid) containing iova, probing
// 4 KiB, 2 MiB then 1 GiB pages, or nil.
func (t *iotlb) lookup(did, sid uint16, iova uint64) *tlbEntry {
	for level := 1; level <= 3; level++ {
		shift := slShift(level)
		pfn := iova >> shift
		base, key := pfn<<shift, tlbKey(did, sid, level)
		set := &t.slot[tlbHash(did, level, pfn)]
		for w := range set {
			if e := set[w].Load(); e != nil && e.iova == base && e.key == key && !e.dead.Load() {
				return e
			}
		}
	}
	return nil
}

// insert caches e unless an invalidation happened since the caller read
// gen (the unit's invalidation generation) before walking: such a walk may
// have read tables the invalidation was about. It replaces an entry with
// the same tag, fills an empty way, or evicts one way of the set. It
// reports whether e was inserted; an entry that was not must not be
// remembered anywhere, since no invalidation will ever find it.
func (t *iotlb) insert(e *tlbEntry, gen uint64, cur *atomic.Uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur.Load() != gen {
		return false
	}
	s := tlbHash(e.did, int(e.level), e.iova>>slShift(int(e.level)))
	set := &t.slot[s]
	free := -1
	for w := range set {
		p := set[w].Load()
		if p == nil {
			if free < 0 {
				free = w
			}
			continue
		}
		if p.iova == e.iova && p.key == e.key {
			p.dead.Store(true)
			set[w].Store(e)
			return true
		}
	}
	if free < 0 {
		free = int(t.victim[s])
		t.victim[s] = uint8((free + 1) % tlbWays)
		set[free].Load().dead.Store(true)
	}
	set[free].Store(e)
	return true
}

// removeIf invalidates every entry for which drop returns true. Callers
// hold t.mu.
func (t *iotlb) removeIfLocked(drop func(*tlbEntry) bool) {
	for s := range t.slot {
		set := &t.slot[s]
		for w := range set {
			if p := set[w].Load(); p != nil && drop(p) {
				p.dead.Store(true)
				set[w].Store(nil)
			}
		}
	}
}

// flushAll invalidates every entry (global invalidation).
func (t *iotlb) flushAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeIfLocked(func(*tlbEntry) bool { return true })
}

// flushDomain invalidates the entries of domain did (domain-selective).
func (t *iotlb) flushDomain(did uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeIfLocked(func(p *tlbEntry) bool { return p.did == did })
}

// flushWhere invalidates the entries of the requesters sid for which
// matchSID returns true, and with anyDID set every entry of domain did.
func (t *iotlb) flushWhere(matchSID func(sid uint16) bool, did uint16, anyDID bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeIfLocked(func(p *tlbEntry) bool { return matchSID(p.sid) || anyDID && p.did == did })
}

// flushPages invalidates the entries of domain did that overlap the IOVA
// range [first, last] (page-selective). Small ranges probe only the sets
// their pages hash to; large ones scan the whole cache.
func (t *iotlb) flushPages(did uint16, first, last uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	probes := uint64(0)
	for level := 1; level <= 3; level++ {
		shift := slShift(level)
		probes += last>>shift - first>>shift + 1
	}
	overlaps := func(p *tlbEntry) bool {
		return p.did == did && p.iova <= last && p.last() >= first
	}
	if probes > tlbSets/2 {
		t.removeIfLocked(overlaps)
		return
	}
	for level := 1; level <= 3; level++ {
		shift := slShift(level)
		for pfn := first >> shift; ; pfn++ {
			set := &t.slot[tlbHash(did, level, pfn)]
			for w := range set {
				if p := set[w].Load(); p != nil && int(p.level) == level && overlaps(p) {
					p.dead.Store(true)
					set[w].Store(nil)
				}
			}
			if pfn == last>>shift {
				break
			}
		}
	}
}

// len returns the number of cached entries.
func (t *iotlb) len() int {
	n := 0
	for s := range t.slot {
		for w := range t.slot[s] {
			if t.slot[s][w].Load() != nil {
				n++
			}
		}
	}
	return n
}
