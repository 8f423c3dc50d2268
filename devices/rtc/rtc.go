// Package rtc models the PC's MC146818-compatible CMOS real-time clock at
// ports 0x70 (index) and 0x71 (data), reporting the host's wall-clock time.
//
// The clock registers (0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 day of
// week, 0x07 day of month, 0x08 month, 0x09 year, 0x32 century) follow the
// data mode the guest selects in status register B (BCD or binary, 12- or
// 24-hour). Status register A never reports an update in progress; D
// reports valid RAM and time. Writes to the clock registers are accepted and
// ignored: the clock always follows the host. The other bytes of the 128-byte
// CMOS RAM are plain storage. There is no periodic, alarm or update
// interrupt.
package rtc

import (
	"sync"
	"time"
)

// Ports decoded by the RTC.
const (
	Port = 0x70
	Size = 2
)

// CMOS register indices.
const (
	regSeconds = 0x00
	regMinutes = 0x02
	regHours   = 0x04
	regWeekday = 0x06
	regDay     = 0x07
	regMonth   = 0x08
	regYear    = 0x09
	regA       = 0x0A
	regB       = 0x0B
	regC       = 0x0C
	regD       = 0x0D
	regCentury = 0x32

	bBinary = 1 << 2 // DM: binary rather than BCD
	b24Hour = 1 << 1
	dVRT    = 1 << 7
)

// RTC is the CMOS clock. It implements bus.Handler for ports 0x70-0x71; it is
// safe for concurrent use.
type RTC struct {
	mu    sync.Mutex
	index uint8
	ram   [128]byte
	now   func() time.Time
}

// New returns an RTC reading the clock now (time.Now when nil), in 24-hour
// BCD mode as PC firmware leaves it.
func New(now func() time.Time) *RTC {
	if now == nil {
		now = time.Now
	}
	r := &RTC{now: now}
	r.ram[regA] = 0x26 // 32.768 kHz time base, 1024 Hz rate
	r.ram[regB] = b24Hour
	return r
}

// Read serves a read of port Port+off.
func (r *RTC) Read(off uint64, data []byte) {
	clear(data)
	if len(data) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch off {
	case 0:
		data[0] = r.index
	case 1:
		data[0] = r.reg(r.index & 0x7F)
	}
}

// Write serves a write of port Port+off.
func (r *RTC) Write(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch off {
	case 0:
		r.index = data[0] // bit 7 is the NMI mask on a PC; kept, ignored
	case 1:
		switch i := r.index & 0x7F; i {
		case regSeconds, regMinutes, regHours, regWeekday, regDay, regMonth, regYear, regCentury, regC, regD:
		case regA:
			r.ram[i] = data[0] & 0x7F // UIP is read-only
		default:
			r.ram[i] = data[0]
		}
	}
}

func (r *RTC) reg(i uint8) uint8 {
	t := r.now().UTC()
	switch i {
	case regSeconds:
		return r.encode(t.Second())
	case regMinutes:
		return r.encode(t.Minute())
	case regHours:
		h := t.Hour()
		if r.ram[regB]&b24Hour != 0 {
			return r.encode(h)
		}
		pm := h >= 12
		h %= 12
		if h == 0 {
			h = 12
		}
		v := r.encode(h)
		if pm {
			v |= 0x80
		}
		return v
	case regWeekday:
		return r.encode(int(t.Weekday()) + 1)
	case regDay:
		return r.encode(t.Day())
	case regMonth:
		return r.encode(int(t.Month()))
	case regYear:
		return r.encode(t.Year() % 100)
	case regCentury:
		return r.encode(t.Year() / 100)
	case regC:
		return 0
	case regD:
		return dVRT
	}
	return r.ram[i]
}

// encode formats v (0-99) in the data mode of status register B.
func (r *RTC) encode(v int) uint8 {
	if r.ram[regB]&bBinary != 0 {
		return uint8(v)
	}
	return uint8(v/10<<4 | v%10)
}
