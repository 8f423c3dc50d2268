package aml

import "fmt"

// AddressWidth selects the Word (16-bit), DWord (32-bit) or QWord (64-bit)
// Address Space descriptor (ACPI 6.5 §6.4.3.5, "Address Space Resource Descriptors").
type AddressWidth uint8

// Address Space descriptor widths.
const (
	Word  AddressWidth = 16 // Word Address Space descriptor, 16 bytes
	DWord AddressWidth = 32 // DWord Address Space descriptor, 26 bytes
	QWord AddressWidth = 64 // QWord Address Space descriptor, 46 bytes
)

// ResourceType is the Resource Type byte of an Address Space descriptor
// (ACPI 6.5 §6.4.3.5, byte 3 of every Address Space descriptor).
type ResourceType uint8

// Resource types.
const (
	MemoryRange    ResourceType = 0 // memory addresses
	IORange        ResourceType = 1 // I/O ports
	BusNumberRange ResourceType = 2 // PCI bus numbers
)

// Type-specific flags of an Address Space descriptor (ACPI 6.5 §6.4.3.5,
// "Resource Type Specific Flags").
const (
	MemReadWrite      = 1 << 0 // memory: _RW, writable
	MemNonCacheable   = 0 << 1 // memory: _MEM = non-cacheable
	MemCacheable      = 1 << 1 // memory: _MEM = cacheable
	MemWriteCombining = 2 << 1 // memory: _MEM = write-combining
	MemPrefetchable   = 3 << 1 // memory: _MEM = prefetchable
	IONonISAOnly      = 1      // I/O: _RNG, only the non-ISA ranges
	IOISAOnly         = 2      // I/O: _RNG, only the ISA ranges
	IOEntireRange     = 3      // I/O: _RNG, the whole range
)

// AddressSpace is a Word, DWord or QWord Address Space descriptor (ACPI 6.5
// §6.4.3.5, ASL WordIO/WordBusNumber/DWordMemory/QWordMemory and friends).
//
// The general flags are built from Producer (bit 0 clear: the device
// produces the range for its children, as a host bridge's window does;
// otherwise ResourceConsumer), SubtractiveDecode (bit 1), MinFixed (bit 2)
// and MaxFixed (bit 3); TypeFlags is the type-specific flags byte (the Mem*
// or IO* constants). Granularity, Min, Max, Translation and Length are the
// _GRA, _MIN, _MAX, _TRA and _LEN fields, each Width bits wide.
type AddressSpace struct {
	Width             AddressWidth // Word, DWord or QWord
	Type              ResourceType // MemoryRange, IORange or BusNumberRange
	Producer          bool         // ResourceProducer (a bridge window)
	SubtractiveDecode bool         // _DEC: subtractive rather than positive decode
	MinFixed          bool         // _MIF: Min is fixed
	MaxFixed          bool         // _MAF: Max is fixed
	TypeFlags         uint8        // type-specific flags (Mem* or IO* constants)
	Granularity       uint64       // _GRA
	Min               uint64       // _MIN, first address
	Max               uint64       // _MAX, last address
	Translation       uint64       // _TRA, offset to the parent bus's addresses
	Length            uint64       // _LEN, size; Max-Min+1 for a fixed window
}

// WordBusNumber returns the bus-number range [min, max] a PCI host bridge
// produces (ASL WordBusNumber(ResourceProducer, MinFixed, MaxFixed,
// PosDecode, 0, min, max, 0, max-min+1)).
func WordBusNumber(min, max uint16) AddressSpace {
	return fixedWindow(Word, BusNumberRange, 0, uint64(min), uint64(max))
}

// WordIO returns the I/O port window [min, max] a PCI host bridge produces
// (ASL WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
// 0, min, max, 0, max-min+1)).
func WordIO(min, max uint16) AddressSpace {
	return fixedWindow(Word, IORange, IOEntireRange, uint64(min), uint64(max))
}

// DWordMemory returns the non-cacheable read-write memory window [min, max]
// a PCI host bridge produces (ASL DWordMemory(ResourceProducer, PosDecode,
// MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, min, max, 0,
// max-min+1)).
func DWordMemory(min, max uint32) AddressSpace {
	return fixedWindow(DWord, MemoryRange, MemReadWrite|MemNonCacheable, uint64(min), uint64(max))
}

// QWordMemory is DWordMemory with 64-bit fields (ASL QWordMemory).
func QWordMemory(min, max uint64) AddressSpace {
	return fixedWindow(QWord, MemoryRange, MemReadWrite|MemNonCacheable, min, max)
}

func fixedWindow(w AddressWidth, t ResourceType, flags uint8, min, max uint64) AddressSpace {
	return AddressSpace{
		Width: w, Type: t, Producer: true, MinFixed: true, MaxFixed: true,
		TypeFlags: flags, Min: min, Max: max, Length: max - min + 1,
	}
}

// AppendResource appends the descriptor (16, 26 or 46 bytes). It fails on
// an unknown width, a field that does not fit the width, Min above Max, or
// a Length larger than Max-Min+1.
func (a AddressSpace) AppendResource(dst []byte) ([]byte, error) {
	var tag byte
	var size int
	switch a.Width {
	case Word:
		tag, size = 0x88, 2
	case DWord:
		tag, size = 0x87, 4
	case QWord:
		tag, size = 0x8A, 8
	default:
		return dst, fmt.Errorf("aml: address space descriptor width %d, want 16, 32 or 64", a.Width)
	}
	fields := [...]struct {
		name string
		v    uint64
	}{{"granularity", a.Granularity}, {"minimum", a.Min}, {"maximum", a.Max}, {"translation", a.Translation}, {"length", a.Length}}
	for _, f := range fields {
		if size < 8 && f.v>>(8*size) != 0 {
			return dst, fmt.Errorf("aml: address space descriptor %s %#x does not fit %d bits", f.name, f.v, a.Width)
		}
	}
	if a.Min > a.Max {
		return dst, fmt.Errorf("aml: address space descriptor minimum %#x above maximum %#x", a.Min, a.Max)
	}
	if a.Length > 0 && a.Length-1 > a.Max-a.Min {
		return dst, fmt.Errorf("aml: address space descriptor length %#x exceeds [%#x, %#x]", a.Length, a.Min, a.Max)
	}
	var gen byte
	if !a.Producer {
		gen |= 1 << 0
	}
	if a.SubtractiveDecode {
		gen |= 1 << 1
	}
	if a.MinFixed {
		gen |= 1 << 2
	}
	if a.MaxFixed {
		gen |= 1 << 3
	}
	body := 3 + 5*size
	dst = append(dst, tag, byte(body), byte(body>>8), byte(a.Type), gen, a.TypeFlags)
	for _, f := range fields {
		dst = appendLE(dst, f.v, size)
	}
	return dst, nil
}
