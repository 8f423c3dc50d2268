// Package serial models a 16550A UART, the PC's COM1 console.
//
// The model transmits instantly (the transmitter holding register is always
// empty by the time the guest reads LSR), receives from a buffer fed by
// Receive, and raises its interrupt line level-triggered as the 16550's IIR
// priority scheme says: receiver line status, received data available,
// transmitter holding register empty, modem status. The loopback mode of MCR
// bit 4 is modelled because Linux's 8250 driver probes with it.
//
// Register offsets (from the base port, 0x3F8 for COM1), as in the
// National Semiconductor PC16550D data sheet:
//
//	0 RBR (read) / THR (write) / DLL (DLAB=1)
//	1 IER / DLM (DLAB=1)
//	2 IIR (read) / FCR (write)
//	3 LCR   4 MCR   5 LSR   6 MSR   7 SCR
package serial

import (
	"io"
	"sync"

	"github.com/govmm/govmm/devices/irq"
)

// COM1 is the legacy base I/O port and IRQ of the first serial port.
const (
	COM1Port = 0x3F8
	COM1IRQ  = 4
	// Size is the number of I/O ports a UART decodes.
	Size = 8
)

// Register bits used by the model.
const (
	ierRDA  = 1 << 0 // received data available
	ierTHRE = 1 << 1 // transmitter holding register empty
	ierRLS  = 1 << 2 // receiver line status

	iirNone = 0x01
	iirTHRE = 0x02
	iirRDA  = 0x04
	iirRLS  = 0x06
	iirFIFO = 0xC0 // FIFOs enabled (16550A)

	fcrEnable = 1 << 0
	fcrClrRX  = 1 << 1

	lcrDLAB = 1 << 7

	mcrDTR  = 1 << 0
	mcrRTS  = 1 << 1
	mcrOUT1 = 1 << 2
	mcrOUT2 = 1 << 3
	mcrLoop = 1 << 4

	lsrDR   = 1 << 0 // data ready
	lsrOE   = 1 << 1 // overrun error
	lsrTHRE = 1 << 5
	lsrTEMT = 1 << 6

	msrCTS = 1 << 4
	msrDSR = 1 << 5
	msrRI  = 1 << 6
	msrDCD = 1 << 7

	// rxLimit bounds the receive buffer; bytes beyond it are dropped and
	// reported as an overrun, as a real FIFO would.
	rxLimit = 4096
)

// UART is a 16550A. It implements bus.Handler for its 8 ports; the zero
// value is not usable, call New. Safe for concurrent use: vCPU threads access
// the registers while another goroutine feeds Receive.
type UART struct {
	mu   sync.Mutex
	out  io.Writer
	line irq.Line

	ier, lcr, mcr, lsr, msr, scr, fcr uint8
	dll, dlm                          uint8
	rx                                []byte
	thrPending                        bool // THRE interrupt pending (cleared by IIR read or THR write)
	level                             bool // current line level
	outErr                            error
}

// New returns a UART that writes transmitted bytes to out and drives line.
// out may be nil (output discarded).
func New(out io.Writer, line irq.Line) *UART {
	if out == nil {
		out = io.Discard
	}
	return &UART{
		out:  out,
		line: line,
		lsr:  lsrTHRE | lsrTEMT,
		msr:  msrDCD | msrDSR | msrCTS,
		dll:  0x0C, // 9600 baud
	}
}

// Receive queues bytes as if they arrived on the line (keyboard input).
// Bytes that do not fit the receive buffer are dropped and flagged as an
// overrun in LSR.
func (u *UART) Receive(p []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.receiveLocked(p)
	u.update()
}

func (u *UART) receiveLocked(p []byte) {
	room := rxLimit - len(u.rx)
	if len(p) > room {
		p = p[:room]
		u.lsr |= lsrOE
	}
	u.rx = append(u.rx, p...)
	if len(u.rx) > 0 {
		u.lsr |= lsrDR
	}
}

// Err returns the first error the output writer returned, if any. Output
// errors do not stop the guest.
func (u *UART) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.outErr
}

// Read serves an I/O read at port offset off (only the first byte of data
// is meaningful; wider accesses read the register in byte 0 and zero above).
func (u *UART) Read(off uint64, data []byte) {
	for i := range data {
		data[i] = 0
	}
	if len(data) == 0 || off >= Size {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	data[0] = u.readReg(off)
	u.update()
}

func (u *UART) readReg(off uint64) uint8 {
	dlab := u.lcr&lcrDLAB != 0
	switch off {
	case 0:
		if dlab {
			return u.dll
		}
		if len(u.rx) == 0 {
			return 0
		}
		b := u.rx[0]
		u.rx = u.rx[1:]
		if len(u.rx) == 0 {
			u.rx = nil
			u.lsr &^= lsrDR
		}
		return b
	case 1:
		if dlab {
			return u.dlm
		}
		return u.ier
	case 2:
		id := u.iir()
		if id == iirTHRE {
			u.thrPending = false
		}
		if u.fcr&fcrEnable != 0 {
			id |= iirFIFO
		}
		return id
	case 3:
		return u.lcr
	case 4:
		return u.mcr
	case 5:
		v := u.lsr
		u.lsr &^= lsrOE // error bits clear on read
		return v
	case 6:
		if u.mcr&mcrLoop != 0 {
			// Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
			var v uint8
			if u.mcr&mcrDTR != 0 {
				v |= msrDSR
			}
			if u.mcr&mcrRTS != 0 {
				v |= msrCTS
			}
			if u.mcr&mcrOUT1 != 0 {
				v |= msrRI
			}
			if u.mcr&mcrOUT2 != 0 {
				v |= msrDCD
			}
			return v
		}
		return u.msr
	case 7:
		return u.scr
	}
	return 0
}

// Write serves an I/O write at port offset off (byte 0 of data).
func (u *UART) Write(off uint64, data []byte) {
	if len(data) == 0 || off >= Size {
		return
	}
	v := data[0]
	u.mu.Lock()
	defer u.mu.Unlock()
	dlab := u.lcr&lcrDLAB != 0
	switch off {
	case 0:
		if dlab {
			u.dll = v
			break
		}
		if u.mcr&mcrLoop != 0 {
			u.receiveLocked([]byte{v})
		} else if _, err := u.out.Write([]byte{v}); err != nil && u.outErr == nil {
			u.outErr = err
		}
		// Transmission is instant: THR is empty again at once.
		u.thrPending = true
	case 1:
		if dlab {
			u.dlm = v
			break
		}
		old := u.ier
		u.ier = v & 0x0F
		if u.ier&ierTHRE != 0 && old&ierTHRE == 0 {
			// Enabling ETBEI with THR empty raises THRE at once.
			u.thrPending = true
		}
	case 2:
		u.fcr = v & (fcrEnable | 0xC0)
		if v&fcrClrRX != 0 {
			u.rx = nil
			u.lsr &^= lsrDR
		}
	case 3:
		u.lcr = v
	case 4:
		u.mcr = v & 0x1F
	case 7:
		u.scr = v
	}
	u.update()
}

// iir returns the highest-priority pending interrupt identification.
func (u *UART) iir() uint8 {
	switch {
	case u.ier&ierRLS != 0 && u.lsr&lsrOE != 0:
		return iirRLS
	case u.ier&ierRDA != 0 && u.lsr&lsrDR != 0:
		return iirRDA
	case u.ier&ierTHRE != 0 && u.thrPending:
		return iirTHRE
	}
	return iirNone
}

// update drives the interrupt line to match the pending state. On a PC the
// UART's interrupt reaches the IRQ line only through MCR.OUT2; Linux sets it,
// and so the model honours it.
func (u *UART) update() {
	level := u.iir() != iirNone && u.mcr&mcrOUT2 != 0
	if level == u.level || u.line == nil {
		return
	}
	u.level = level
	_ = u.line.SetLevel(level)
}
