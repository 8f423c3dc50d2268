package vtd

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		in   string
		want Config
		err  bool
	}{
		{"", Config{AWBits: 48, CachingMode: true, PassThrough: true}, false},
		{"  ", DefaultConfig(), false},
		{"aw-bits=39", Config{AWBits: 39, CachingMode: true, PassThrough: true}, false},
		{"aw-bits=48,caching-mode=off", Config{AWBits: 48, PassThrough: true}, false},
		{"device-iotlb=on,pt=off", Config{AWBits: 48, CachingMode: true, DeviceIOTLB: true}, false},
		{" aw-bits=39 , caching-mode=on ", Config{AWBits: 39, CachingMode: true, PassThrough: true}, false},
		{"aw-bits=57", Config{}, true},
		{"aw-bits=32", Config{}, true},
		{"aw-bits=x", Config{}, true},
		{"caching-mode=yes", Config{}, true},
		{"caching-mode", Config{}, true},
		{"=on", Config{}, true},
		{"intremap=on", Config{}, true},
		{"pt=on,pt=off", Config{}, true},
		{"aw-bits=48,", Config{}, true},
	}
	for _, tc := range tests {
		got, err := ParseConfig(tc.in)
		if tc.err {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("ParseConfig(%q) = %+v, %v; want an ErrConfig error", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseConfig(%q) (-want +got):\n%s", tc.in, diff)
		}
		// String round-trips.
		again, err := ParseConfig(got.String())
		if err != nil || again != got {
			t.Errorf("ParseConfig(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
}

func TestCapabilityRegisters(t *testing.T) {
	field := func(v uint64, hi, lo uint) uint64 { return v >> lo & (1<<(hi-lo+1) - 1) }
	tests := []struct {
		cfg  string
		reg  string
		hi   uint
		lo   uint
		want uint64
	}{
		{"", "CAP", 2, 0, 6}, // ND: 16-bit DIDs
		{"", "CAP", 4, 4, 0}, // RWBF
		{"", "CAP", 6, 5, 0}, // PLMR, PHMR
		{"", "CAP", 7, 7, 1}, // CM
		{"caching-mode=off", "CAP", 7, 7, 0},
		{"", "CAP", 12, 8, 0x6},           // SAGAW 39+48
		{"aw-bits=39", "CAP", 12, 8, 0x2}, // SAGAW 39
		{"", "CAP", 21, 16, 47},           // MGAW
		{"aw-bits=39", "CAP", 21, 16, 38},
		{"", "CAP", 33, 24, 0x22}, // FRO
		{"", "CAP", 37, 34, 0x3},  // SLLPS 2M+1G
		{"", "CAP", 39, 39, 1},    // PSI
		{"", "CAP", 47, 40, 7},    // NFR: 8 records
		{"", "CAP", 53, 48, 18},   // MAMV
		{"", "CAP", 63, 54, 0},    // DWD DRD FL1GP PI FL5LP ECMDS ESIRTPS ESRTPS
		{"", "ECAP", 0, 0, 0},     // C
		{"", "ECAP", 1, 1, 1},     // QI
		{"", "ECAP", 2, 2, 0},     // DT
		{"device-iotlb=on", "ECAP", 2, 2, 1},
		{"", "ECAP", 3, 3, 0}, // IR
		{"", "ECAP", 4, 4, 0}, // EIM
		{"", "ECAP", 6, 6, 1}, // PT
		{"pt=off", "ECAP", 6, 6, 0},
		{"", "ECAP", 7, 7, 0},    // SC
		{"", "ECAP", 17, 8, 0xf}, // IRO
		{"", "ECAP", 63, 18, 0},  // MHMV NEST PRS SRS PASID SMTS SLTS FLTS ...
	}
	for _, tc := range tests {
		cfg, err := ParseConfig(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		v := cfg.CAP()
		if tc.reg == "ECAP" {
			v = cfg.ECAP()
		}
		if got := field(v, tc.hi, tc.lo); got != tc.want {
			t.Errorf("%q: %s[%d:%d] = %#x, want %#x", tc.cfg, tc.reg, tc.hi, tc.lo, got, tc.want)
		}
	}
	// The registers read back what Config computes.
	e := newEnv(t, DefaultConfig(), 1<<20)
	if e.r64(RegCAP) != DefaultConfig().CAP() || e.r64(RegECAP) != DefaultConfig().ECAP() {
		t.Errorf("CAP/ECAP registers %#x/%#x, want %#x/%#x", e.r64(RegCAP), e.r64(RegECAP), DefaultConfig().CAP(), DefaultConfig().ECAP())
	}
	if got := DefaultConfig().HAW(); got != 48 {
		t.Errorf("HAW() = %d, want 48", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 4096)
	if _, err := New(Config{AWBits: 40}, e.mem, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("New(aw 40) error %v, want ErrConfig", err)
	}
	if _, err := New(DefaultConfig(), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("New(nil memory) error %v, want ErrConfig", err)
	}
}
