// Package iovatree is an ordered map of non-overlapping I/O virtual address
// (IOVA) ranges to translated addresses and permissions: the mapping cache
// behind govmm's IOMMUs.
//
// The VT-d unit keeps one Tree per device address space in caching mode
// (CM=1, VT-d spec §6.1): it records what consumers (VFIO, vhost) have been
// told, so that after a guest invalidation (PSI/DSI, §6.5.2.3) it can send
// MAP for new translations, UNMAP for vanished ones and nothing for
// unchanged ones, as QEMU's IOVATree does. The virtio-iommu keeps one Tree
// per domain (virtio spec §5.13): MAP inserts, UNMAP removes every mapping
// inside the range, and a DMA translation is a Find.
//
// # Mappings and ranges
//
// A Mapping sends [IOVA, IOVA+Size) to [Addr, Addr+Size) with a Perm
// (PermRead, PermWrite or both). Sizes are in bytes and arbitrary: neither
// alignment nor a power-of-two size is required, so a virtio-iommu MAP of
// bytes 0..4 is as valid as a 1 GiB VT-d superpage. Mappings are never
// merged or split: one Insert is one entry, which is what lets an UNMAP
// report exactly what was mapped.
//
// Ranges that name a size, [iova, iova+size), cannot express the whole
// 2^64 space, so the methods that take one (Overlap, Remove, Range) treat a
// size of 0 as empty and cut a range that would run past 2^64-1 there. Each
// has a Span twin (OverlapSpan, RemoveSpan, Span) that takes inclusive
// bounds [first, last], where [0, 2^64-1] is the whole space; the
// virtio-iommu UNMAP request and VT-d's address-width bounds are naturally
// inclusive.
//
// # Operations
//
//   - Insert adds a mapping; it rejects a zero size (ErrZeroSize), a range
//     that wraps past 2^64 (ErrWrap), an empty permission (ErrNoPerm) and
//     any overlap with an existing mapping (ErrOverlap).
//   - Find returns the mapping containing an address; Overlap the lowest
//     mapping overlapping a range.
//   - Remove removes every mapping a range overlaps (whole mappings) and
//     returns them in ascending order.
//   - FindAddr is the reverse lookup, by translated address.
//   - Range, Span and All iterate in ascending order (iter.Seq).
//   - FreeRange finds the lowest free, aligned hole of a given size inside
//     bounds: an IOVA allocator.
//   - Len, MemoryBytes and Clear.
//
// Every error is a *RangeError naming the offending range and wrapping one
// of the sentinels ErrOverlap, ErrZeroSize, ErrWrap, ErrNoPerm or
// ErrNoSpace; test with errors.Is. No input makes a method panic.
//
// # Concurrency
//
// A Tree is not safe for concurrent mutation: the owner serialises writers
// (Insert, Remove, RemoveSpan, Clear) against everything else with its own
// lock. Readers (Find, Overlap, OverlapSpan, FindAddr, FreeRange, Len,
// MemoryBytes and running iterations) may run concurrently with each
// other, for example under a sync.RWMutex's RLock: the only state a reader
// writes, Find's lookup hint, is an atomic pointer. The loop body of an
// iteration may change the tree; the iteration then resumes after the last
// mapping it yielded. See Tree for the exact rules.
//
// # Performance and memory
//
// The tree is a B+tree. Leaves hold 64 mappings as parallel arrays (first
// IOVA, last IOVA, translated address, permission) in eight blocks of
// eight; each block's keys fill one 64-byte cache line. The lowest inner
// nodes keep, for each child leaf, the first IOVA of each of its blocks.
// A random Find therefore searches a few inner-node lines, which stay in
// cache, with branch-free searches, and then reads one block of one leaf,
// requesting its four lines at once: one memory round trip per level that
// is not in cache. Lookups in ascending order, as DMA streams make them,
// are answered from the leaf of a previous lookup (the finger). Find,
// Overlap, OverlapSpan and FindAddr never allocate; Insert and FreeRange
// allocate only to return an error, and Insert when a node splits; Remove
// appends to the slice it is given.
//
// Memory is 1792 bytes per leaf and 3072 per inner node, reported exactly
// by MemoryBytes: about 31 bytes per mapping for trees built in ascending
// or descending order (leaves are filled completely) and about 36 for
// random order (a full leaf first moves mappings to a sibling with room,
// and splits only when both are full). Removals keep leaves at least half
// full. There is no per-mapping allocation and no index by translated
// address, which is why FindAddr is a linear scan.
//
// Complexity, for n mappings: Insert, Remove of k mappings, Find and
// Overlap are O(log n) (+k); FreeRange is O(log n) plus one step per
// mapping skipped; FindAddr is O(n); iteration is O(1) per mapping.
package iovatree
