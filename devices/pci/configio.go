package pci

import (
	"encoding/binary"
	"sync/atomic"
)

// Configuration mechanism #1 (PCI Local Bus Specification 3.0 §3.2.2.3.2):
// CONFIG_ADDRESS at port 0xCF8 (a DWORD register), CONFIG_DATA at ports
// 0xCFC–0xCFF.
const (
	ConfigIOPort = 0xcf8 // first port of the ConfigIO handler
	ConfigIOSize = 8     // ports 0xCF8–0xCFF

	// ConfigAddressEnable is CONFIG_ADDRESS bit 31, Enable: CONFIG_DATA
	// accesses reach configuration space only while it is set.
	ConfigAddressEnable = 1 << 31

	resetControlPort = 1 // 0xCF9, the PC chipset reset control register
	configDataPort   = 4 // 0xCFC
)

// ConfigAddress returns the CONFIG_ADDRESS value that selects register reg
// (its DWORD, bits 7:2) of function b, with the Enable bit set:
// 1<<31 | bus<<16 | device<<11 | function<<8 | reg&0xFC.
func ConfigAddress(b BDF, reg int) uint32 {
	return ConfigAddressEnable | uint32(b.Bus)<<16 | uint32(b.Device&0x1f)<<11 |
		uint32(b.Function&7)<<8 | uint32(reg)&0xfc
}

// ConfigIO serves configuration mechanism #1 for a Segment (normally
// segment 0). Insert it on the port-I/O bus at ConfigIOPort with size
// ConfigIOSize.
//
// A DWORD write to 0xCF8 latches CONFIG_ADDRESS; reads of 0xCF8–0xCFB
// return the latched bytes. An access of 1, 2 or 4 bytes at 0xCFC+k
// (k+size ≤ 4) reaches register (CONFIG_ADDRESS & 0xFC) + k of the
// selected function through Segment.ReadConfig/WriteConfig, so only the
// first 256 bytes are reachable; it reads all ones and is ignored while
// Enable (bit 31) is clear. Reserved bits 30:24 are ignored (no AMD
// extended-register encoding). Other accesses read all ones and are
// ignored, except port 0xCF9, the PC reset control register, whose byte
// writes go to the resetControl callback given to NewConfigIO (on PC
// chipsets a write with bit 2 set resets the machine; the FADT RESET_REG
// normally names this port) and whose byte reads return the last value
// written.
//
// The latch is one register shared by all vCPUs, as on real hardware;
// guests serialise their CF8/CFC pairs. ConfigIO is safe for concurrent use.
type ConfigIO struct {
	seg   *Segment
	reset func(value uint8)
	addr  atomic.Uint32
	rst   atomic.Uint32
}

// NewConfigIO returns the CF8/CFC handler for seg. resetControl may be nil.
func NewConfigIO(seg *Segment, resetControl func(value uint8)) *ConfigIO {
	return &ConfigIO{seg: seg, reset: resetControl}
}

func (c *ConfigIO) target(off uint64, n int) (BDF, int, bool) {
	a := c.addr.Load()
	k := int(off) - configDataPort
	if a&ConfigAddressEnable == 0 || k+n > 4 {
		return BDF{}, 0, false
	}
	b := BDF{Bus: uint8(a >> 16), Device: uint8(a>>11) & 0x1f, Function: uint8(a>>8) & 7}
	return b, int(a&0xfc) + k, true
}

// Read serves a guest IN from port 0xCF8+off.
func (c *ConfigIO) Read(off uint64, data []byte) {
	n := len(data)
	switch {
	case off == resetControlPort && n == 1:
		data[0] = uint8(c.rst.Load())
	case off < configDataPort && off+uint64(n) <= configDataPort:
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], c.addr.Load())
		copy(data, a[off:])
	case off >= configDataPort && off < ConfigIOSize:
		b, reg, ok := c.target(off, n)
		if !ok {
			fill(data, 0xff)
			return
		}
		c.seg.ReadConfig(b, reg, data)
	default:
		fill(data, 0xff)
	}
}

// Write serves a guest OUT to port 0xCF8+off.
func (c *ConfigIO) Write(off uint64, data []byte) {
	n := len(data)
	switch {
	case off == 0 && n == 4:
		c.addr.Store(binary.LittleEndian.Uint32(data))
	case off == resetControlPort && n == 1:
		c.rst.Store(uint32(data[0]))
		if c.reset != nil {
			c.reset(data[0])
		}
	case off >= configDataPort && off < ConfigIOSize:
		if b, reg, ok := c.target(off, n); ok {
			c.seg.WriteConfig(b, reg, data)
		}
	}
}

// ConfigAddressRegister returns the latched CONFIG_ADDRESS value.
func (c *ConfigIO) ConfigAddressRegister() uint32 { return c.addr.Load() }
