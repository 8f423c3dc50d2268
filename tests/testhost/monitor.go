package testhost

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"time"
)

// l0MonitorName is L0 QEMU's human monitor socket in the work directory.
const l0MonitorName = "l0.mon"

// l0MonitorCommands are what dumpL0State asks L0 QEMU: L1's CPU registers
// (RIP, RFLAGS.IF, whether it is halted or in an SVM guest) and its local
// APIC (the timer).
var l0MonitorCommands = []string{"info registers", "info lapic"}

// dumpL0State writes L0 QEMU's answers to l0MonitorCommands to
// work/l0-stall.txt: what L1's CPU was doing when a session stalled. Errors
// are written into the file too; there is nothing else to do about them.
func dumpL0State(work string) {
	var out bytes.Buffer
	c, err := net.DialTimeout("unix", filepath.Join(work, l0MonitorName), 2*time.Second)
	if err != nil {
		out.WriteString("L0 monitor: " + err.Error() + "\n")
	} else {
		defer c.Close()
		for _, cmd := range l0MonitorCommands {
			_, _ = c.Write([]byte(cmd + "\n"))
		}
		buf := make([]byte, 64<<10)
		for {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
	}
	_ = os.WriteFile(filepath.Join(work, "l0-stall.txt"), out.Bytes(), 0o644)
}
