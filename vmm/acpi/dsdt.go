package acpi

import (
	"fmt"

	"github.com/govmm/govmm/vmm/acpi/aml"
)

// dsdtRevision is the DSDT revision (ACPI 6.5 §5.2.11.1): 2, so that AML
// integers are 64 bits wide.
const dsdtRevision = 2

// Fixed legacy ports the DSDT describes.
const (
	pciConfigPort = 0xCF8 // CONFIG_ADDRESS/CONFIG_DATA, 8 ports
	pciConfigLen  = 8
	rtcPort       = 0x70
	rtcLen        = 2
	rtcIRQ        = 8
	serialLen     = 8
	sleepRegsPort = SleepControlPort
	sleepRegsLen  = 2
)

// buildDSDT returns the DSDT (ACPI 6.5 §5.2.11.1). Its namespace is:
//
//	\_S5_            Package {S5SleepType}: SLP_TYP for soft-off (§7.4.2)
//	\_SB_.Cxxx       one ACPI0007 processor device per vCPU, _UID = index
//	\_SB_.PCI0       PNP0A08 (PNP0A03-compatible) host bridge: _SEG, _BBN,
//	                 _UID, _CRS (bus range, the consumed 0xCF8-0xCFF ports,
//	                 the I/O, 32-bit and 64-bit windows), _PRT when
//	                 cfg.PRT is set, and _OSC granting the OS every control
//	                 it asks for
//	\_SB_.COMn       PNP0501 UARTs with their ports and ISA IRQ
//	\_SB_.RTC_       PNP0B00 RTC at 0x70-0x71, IRQ 8, when cfg.CMOSRTC
//	\_SB_.MBRD       PNP0C02 motherboard resources: the ECAM window (the
//	                 PCI Firmware Specification requires ECAM to be
//	                 reserved this way) and the sleep registers' ports
func buildDSDT(cfg *Config) ([]byte, error) {
	sb := []aml.Object{}
	for i := 0; i < cfg.CPUs; i++ {
		sb = append(sb, aml.Device{Path: fmt.Sprintf("C%03X", i), Body: []aml.Object{
			aml.Name{Path: "_HID", Value: aml.String("ACPI0007")},
			aml.Name{Path: "_UID", Value: aml.Integer(i)},
		}})
	}
	sb = append(sb, hostBridge(cfg))
	for i, s := range cfg.Serial {
		sb = append(sb, aml.Device{Path: fmt.Sprintf("COM%d", i+1), Body: []aml.Object{
			aml.Name{Path: "_HID", Value: aml.EISAID("PNP0501")},
			aml.Name{Path: "_UID", Value: aml.Integer(i + 1)},
			aml.Name{Path: "_CRS", Value: aml.ResourceTemplate{
				aml.IO{Decode16: true, Min: s.Port, Max: s.Port, Align: 1, Length: serialLen},
				aml.IRQNoFlags{s.IRQ},
			}},
		}})
	}
	if cfg.CMOSRTC {
		sb = append(sb, aml.Device{Path: "RTC", Body: []aml.Object{
			aml.Name{Path: "_HID", Value: aml.EISAID("PNP0B00")},
			aml.Name{Path: "_CRS", Value: aml.ResourceTemplate{
				aml.IO{Decode16: true, Min: rtcPort, Max: rtcPort, Align: 1, Length: rtcLen},
				aml.IRQNoFlags{rtcIRQ},
			}},
		}})
	}
	ecam := cfg.ECAM.Window()
	sb = append(sb, aml.Device{Path: "MBRD", Body: []aml.Object{
		aml.Name{Path: "_HID", Value: aml.EISAID("PNP0C02")},
		aml.Name{Path: "_UID", Value: aml.Integer(0)},
		aml.Name{Path: "_CRS", Value: aml.ResourceTemplate{
			aml.Memory32Fixed{ReadWrite: true, Base: uint32(ecam.Base), Length: uint32(ecam.Size)},
			aml.IO{Decode16: true, Min: sleepRegsPort, Max: sleepRegsPort, Align: 1, Length: sleepRegsLen},
		}},
	}})

	body, err := aml.Encode(
		aml.Name{Path: "_S5", Value: aml.Package{aml.Integer(S5SleepType)}},
		aml.Scope{Path: "_SB", Body: sb},
	)
	if err != nil {
		return nil, fmt.Errorf("acpi: encoding the DSDT: %w", err)
	}
	t := newTable("DSDT", dsdtRevision, headerSize+len(body))
	t = append(t, body...)
	return finishTable(t), nil
}

// hostBridge returns \_SB.PCI0, the PCI Express host bridge of the ECAM
// segment (ACPI 6.5 §6.5.5 _BBN, §6.5.6 _SEG, §6.2.2 _CRS, and _PRT and
// _OSC in §6.2).
func hostBridge(cfg *Config) aml.Device {
	crs := aml.ResourceTemplate{
		aml.WordBusNumber(uint16(cfg.ECAM.StartBus), uint16(cfg.ECAM.EndBus)),
		aml.IO{Decode16: true, Min: pciConfigPort, Max: pciConfigPort, Align: 1, Length: pciConfigLen},
	}
	if cfg.IO.Size > 0 {
		crs = append(crs, aml.WordIO(uint16(cfg.IO.Base), uint16(cfg.IO.End()-1)))
	}
	crs = append(crs, aml.DWordMemory(uint32(cfg.MMIO32.Base), uint32(cfg.MMIO32.End()-1)))
	if cfg.MMIO64.Size > 0 {
		crs = append(crs, aml.QWordMemory(cfg.MMIO64.Base, cfg.MMIO64.End()-1))
	}
	body := []aml.Object{
		aml.Name{Path: "_HID", Value: aml.EISAID("PNP0A08")},
		aml.Name{Path: "_CID", Value: aml.EISAID("PNP0A03")},
		aml.Name{Path: "_SEG", Value: aml.Integer(cfg.ECAM.Segment)},
		aml.Name{Path: "_BBN", Value: aml.Integer(cfg.ECAM.StartBus)},
		aml.Name{Path: "_UID", Value: aml.Integer(cfg.ECAM.Segment)},
		aml.Name{Path: "_CRS", Value: crs},
	}
	if len(cfg.PRT) > 0 {
		prt := make(aml.Package, 0, len(cfg.PRT))
		for _, r := range cfg.PRT {
			prt = append(prt, aml.Package{
				aml.Integer(uint64(r.Device)<<16 | 0xFFFF), // _ADR: device, any function
				aml.Integer(r.Pin),
				aml.Integer(0), // Source: 0 means "GSI", no link device
				aml.Integer(r.GSI),
			})
		}
		body = append(body, aml.Name{Path: "_PRT", Value: prt})
	}
	// _OSC (Arg0 UUID, Arg1 revision, Arg2 count, Arg3 capabilities
	// buffer) returns the capabilities buffer unchanged: no error bits, and
	// every control the OS requests is granted. The platform has no
	// firmware that could handle hot-plug, PME, AER or LTR itself.
	body = append(body, aml.Method{Path: "_OSC", Args: 4, Body: []aml.Object{aml.Return{Value: aml.Arg(3)}}})
	return aml.Device{Path: "PCI0", Body: body}
}
