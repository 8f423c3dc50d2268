package rtc

import (
	"testing"
	"time"
)

func read(r *RTC, idx uint8) uint8 {
	r.Write(0, []byte{idx})
	b := []byte{0}
	r.Read(1, b)
	return b[0]
}

func TestClock(t *testing.T) {
	at := time.Date(2026, 11, 21, 23, 45, 59, 0, time.UTC) // a Saturday
	r := New(func() time.Time { return at })
	tests := []struct {
		name string
		regB uint8
		reg  uint8
		want uint8
	}{
		{"bcd seconds", b24Hour, regSeconds, 0x59},
		{"bcd minutes", b24Hour, regMinutes, 0x45},
		{"bcd hours 24h", b24Hour, regHours, 0x23},
		{"bcd hours 12h pm", 0, regHours, 0x80 | 0x11},
		{"binary hours", b24Hour | bBinary, regHours, 23},
		{"weekday", b24Hour, regWeekday, 7},
		{"day", b24Hour, regDay, 0x21},
		{"month", b24Hour, regMonth, 0x11},
		{"year", b24Hour, regYear, 0x26},
		{"century", b24Hour, regCentury, 0x20},
		{"binary year", bBinary, regYear, 26},
		{"status A no UIP", b24Hour, regA, 0x26},
		{"status D valid", b24Hour, regD, 0x80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.Write(0, []byte{regB})
			r.Write(1, []byte{tt.regB})
			if got := read(r, tt.reg); got != tt.want {
				t.Errorf("reg %#x = %#x, want %#x", tt.reg, got, tt.want)
			}
		})
	}
}

func TestRAMAndReadOnly(t *testing.T) {
	r := New(nil)
	r.Write(0, []byte{0x40})
	r.Write(1, []byte{0xAB})
	if got := read(r, 0x40); got != 0xAB {
		t.Fatalf("CMOS RAM byte = %#x", got)
	}
	r.Write(0, []byte{regA})
	r.Write(1, []byte{0xFF})
	if read(r, regA)&0x80 != 0 {
		t.Fatal("UIP became set by a write")
	}
	r.Write(0, []byte{regD})
	r.Write(1, []byte{0})
	if read(r, regD) != dVRT {
		t.Fatal("status D writable")
	}
	r.Read(5, make([]byte, 2)) // out of range: ignored
	r.Write(5, nil)
}
