package virtionet

import "sync/atomic"

// Stats are the device's counters since it was created.
type Stats struct {
	RxFrames, RxBytes uint64 // frames (and their bytes, header excluded) delivered to the driver
	// RxDropped counts frames read from the back end but not delivered:
	// shorter than a header, longer than MaxFrameSize or than the
	// receive chain without VIRTIO_NET_F_MRG_RXBUF, or with offloads the
	// driver did not negotiate.
	RxDropped uint64
	// RxBadBuffers counts receive chains returned unused: too small for
	// the header, or refused by the IOMMU.
	RxBadBuffers      uint64
	TxFrames, TxBytes uint64 // frames (header excluded) written to the back end
	// TxDropped counts transmit chains not sent: a malformed header, a
	// buffer the IOMMU refused, a frame the back end refused.
	TxDropped uint64
	// TxStalls counts the times the back end had no room and the device
	// held a frame until it had.
	TxStalls uint64
}

type counters struct {
	rxFrames, rxBytes, rxDropped, rxBad atomic.Uint64
	txFrames, txBytes, txDropped, txStl atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (n *Net) Stats() Stats {
	c := &n.stats
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(), RxDropped: c.rxDropped.Load(), RxBadBuffers: c.rxBad.Load(),
		TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(), TxDropped: c.txDropped.Load(), TxStalls: c.txStl.Load(),
	}
}
