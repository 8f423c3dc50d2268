package virtioblk

import "encoding/binary"

// Feature bits of the block device (virtio 1.2 §5.2.3).
const (
	FeatureSizeMax     uint64 = 1 << 1  // VIRTIO_BLK_F_SIZE_MAX: size_max is valid
	FeatureSegMax      uint64 = 1 << 2  // VIRTIO_BLK_F_SEG_MAX: seg_max is valid
	FeatureGeometry    uint64 = 1 << 4  // VIRTIO_BLK_F_GEOMETRY (not offered)
	FeatureRO          uint64 = 1 << 5  // VIRTIO_BLK_F_RO: the device is read-only
	FeatureBlkSize     uint64 = 1 << 6  // VIRTIO_BLK_F_BLK_SIZE: blk_size is valid
	FeatureFlush       uint64 = 1 << 9  // VIRTIO_BLK_F_FLUSH: VIRTIO_BLK_T_FLUSH is supported
	FeatureTopology    uint64 = 1 << 10 // VIRTIO_BLK_F_TOPOLOGY (not offered)
	FeatureConfigWCE   uint64 = 1 << 11 // VIRTIO_BLK_F_CONFIG_WCE (not offered)
	FeatureMQ          uint64 = 1 << 12 // VIRTIO_BLK_F_MQ: num_queues is valid
	FeatureDiscard     uint64 = 1 << 13 // VIRTIO_BLK_F_DISCARD: VIRTIO_BLK_T_DISCARD is supported
	FeatureWriteZeroes uint64 = 1 << 14 // VIRTIO_BLK_F_WRITE_ZEROES: VIRTIO_BLK_T_WRITE_ZEROES is supported
)

// Offsets of struct virtio_blk_config (virtio 1.2 §5.2.4); widths in
// bytes in brackets.
const (
	ConfigCapacity              = 0x00 // [8] capacity in 512-byte sectors
	ConfigSizeMax               = 0x08 // [4] largest single segment, bytes
	ConfigSegMax                = 0x0c // [4] most segments in a request
	ConfigGeometry              = 0x10 // [4] cylinders, heads, sectors (0)
	ConfigBlkSize               = 0x14 // [4] logical block size, bytes
	ConfigTopology              = 0x18 // [8] (0)
	ConfigWriteback             = 0x20 // [1] (0: no CONFIG_WCE)
	ConfigNumQueues             = 0x22 // [2] with VIRTIO_BLK_F_MQ
	ConfigMaxDiscardSectors     = 0x24 // [4]
	ConfigMaxDiscardSeg         = 0x28 // [4]
	ConfigDiscardSectorAlign    = 0x2c // [4]
	ConfigMaxWriteZeroesSectors = 0x30 // [4]
	ConfigMaxWriteZeroesSeg     = 0x34 // [4]
	ConfigWriteZeroesMayUnmap   = 0x38 // [1]
	// ConfigSize is the size of the structure this device exposes:
	// through write_zeroes_may_unmap and its padding.
	ConfigSize = 0x3c
)

// Limits the device advertises.
const (
	SectorSize = 512 // the unit of capacity and of sector numbers (§5.2.4)
	// SizeMax is size_max: the largest single data segment, 1 MiB.
	SizeMax = 1 << 20
	// MaxDiscardSectors and MaxWriteZeroesSectors bound one segment of a
	// DISCARD or WRITE_ZEROES request, in sectors (2 GiB - 512).
	MaxDiscardSectors     = 1<<22 - 1
	MaxWriteZeroesSectors = 1<<22 - 1
	// MaxDiscardSeg and MaxWriteZeroesSeg bound the segments of one such
	// request.
	MaxDiscardSeg     = 32
	MaxWriteZeroesSeg = 32
)

// config renders struct virtio_blk_config.
func (b *Block) renderConfig() {
	le := binary.LittleEndian
	c := b.cfg[:]
	le.PutUint64(c[ConfigCapacity:], b.capacity)
	le.PutUint32(c[ConfigSizeMax:], SizeMax)
	le.PutUint32(c[ConfigSegMax:], uint32(b.segMax()))
	le.PutUint32(c[ConfigBlkSize:], SectorSize)
	le.PutUint16(c[ConfigNumQueues:], uint16(len(b.sizes)))
	le.PutUint32(c[ConfigMaxDiscardSectors:], MaxDiscardSectors)
	le.PutUint32(c[ConfigMaxDiscardSeg:], MaxDiscardSeg)
	le.PutUint32(c[ConfigDiscardSectorAlign:], 1)
	le.PutUint32(c[ConfigMaxWriteZeroesSectors:], MaxWriteZeroesSectors)
	le.PutUint32(c[ConfigMaxWriteZeroesSeg:], MaxWriteZeroesSeg)
	c[ConfigWriteZeroesMayUnmap] = 1
}

// segMax is seg_max: the queue size minus the header and status
// descriptors, so that a request always fits in one chain (as QEMU does).
func (b *Block) segMax() int { return int(b.sizes[0]) - 2 }
