package notifier

import (
	"iter"
	"math/bits"
)

// Split yields, in ascending order, the naturally aligned power-of-two
// blocks that tile the inclusive IOVA range [first, last] exactly: each
// yielded (iova, size) has size = 2^k for some 0 <= k <= 63 and
// iova % size == 0, consecutive blocks are adjacent, the first starts at
// first and the last ends at last.
//
// At each address the largest block that is aligned there and does not pass
// last is taken, so the blocks are the maximal aligned blocks inside the
// range: the split depends only on [first, last], and a block of any other
// range's split that lies inside [first, last] lies inside one of these
// blocks. This is what lets a consumer unmap exactly what it was mapped (VFIO
// type1 v2 rejects an unmap that bisects a mapping with EINVAL; iommufd with
// ENOENT). The same decomposition is used by QEMU's dma_aligned_pow2_mask and
// by the VT-d invalidation address mask (AM, VT-d specification §6.5.2.3).
//
// The whole space [0, 2^64-1] yields two blocks of 2^63 bytes. Any range
// yields at most 128 blocks. Split yields nothing when first > last.
func Split(first, last uint64) iter.Seq2[uint64, uint64] {
	return func(yield func(iova, size uint64) bool) {
		if first > last {
			return
		}
		c := splitter{next: first, last: last}
		for {
			iova, size, ok := c.step()
			if !ok || !yield(iova, size) {
				return
			}
		}
	}
}

// splitter walks the split of [next, last] one block at a time without
// allocating. The zero value is not ready; set next and last (next <= last).
type splitter struct {
	next, last uint64
	done       bool
}

// step returns the next block, or ok == false when the range is exhausted.
func (c *splitter) step() (iova, size uint64, ok bool) {
	if c.done {
		return 0, 0, false
	}
	iova = c.next
	size = blockSize(iova, c.last-iova)
	end := iova + size - 1
	if end == c.last {
		c.done = true
	} else {
		c.next = end + 1
	}
	return iova, size, true
}

// blockSize returns the largest power of two 2^k (k <= 63) with
// iova % 2^k == 0 and 2^k - 1 <= rem, where rem is the number of bytes
// after iova that are still inside the range (size - 1 of what is left).
func blockSize(iova, rem uint64) uint64 {
	k := 63
	if iova != 0 {
		k = bits.TrailingZeros64(iova)
	}
	if rem != ^uint64(0) {
		// 2^j <= rem+1 for j = floor(log2(rem+1)).
		if j := bits.Len64(rem+1) - 1; j < k {
			k = j
		}
	}
	return 1 << k
}
