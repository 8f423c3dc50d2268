// Package eventlog records the events of IOMMU address spaces as JSON lines,
// for experiments: what did the guest map, when, for which device, and what
// did the host consumers get told. `govmm run --iommu-events FILE` writes
// one.
//
// A Log is a notifier.Notifier. Register it on every hub of interest, with
// the kinds to record, over the range to record (usually the whole space):
//
//	log, err := eventlog.Create("events.jsonl")
//	...
//	id, err := hub.Register(log, notifier.AllKinds, 0, 1<<64-1)
//	...
//	defer log.Close()
//
// One Log may be shared by any number of hubs and used from any number of
// goroutines; lines are never interleaved.
//
// # Format
//
// Each event is one line holding one JSON object, fields in this order:
//
//	{"kind":"map","sid":16,"iova":"0x7f000","size":"0x1000","addr":"0x1234000","perm":"rw","t_ns":1532}
//
// The fields are:
//
//   - kind: "map", "unmap" or "deviotlb_unmap" (notifier.Map, Unmap,
//     DevIOTLBUnmap).
//   - sid: the requester as a JSON number: the VT-d source ID bus<<8|devfn
//     (16 is 00:02.0) or the virtio-iommu endpoint ID.
//   - iova, size, addr: the block's first IOVA, its length in bytes and, for
//     a map, the guest-physical address it translates to ("0x0" for the
//     unmap kinds). They are strings holding lower-case hexadecimal with a
//     "0x" prefix, not JSON numbers, so that every 64-bit value is exact:
//     JSON readers that use doubles (JavaScript, jq, pandas by default) lose
//     precision above 2^53, and IOVAs near the top of the space are common.
//   - perm: "r", "w" or "rw" for a map, "" for the unmap kinds.
//   - t_ns: nanoseconds since the Log was created, from the monotonic clock
//     (not affected by wall-clock changes), as a JSON number. Lines appear
//     in non-decreasing t_ns order.
//
// ParseRecord and ReadAll read the format back.
//
// # Buffering and errors
//
// Lines are buffered (64 KiB by default) and reach the underlying writer
// when the buffer fills, on Flush and on Close; call Close (or Flush) before
// reading the file. A Log never fails a Notify, so a full disk cannot make
// the guest's mappings fail: the first write error is kept, later events are
// counted as dropped, and the error is returned by Flush, Close and Err.
// Events that arrive after Close are dropped and counted too.
package eventlog
