package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux architecture Go runs on.
const clockTicks = 100

// machineCPU is the CPU time every core of this machine has been busy since boot (user, nice,
// system, irq, softirq and steal; not idle nor iowait), from /proc/stat. ok is false where there
// is no /proc/stat (not Linux). It counts every process, the database server's too when it runs
// here, which is what a benchmark's CPU cost per event needs.
func machineCPU() (busy time.Duration, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, false
	}
	busy, err = parseStatCPU(line)
	return busy, err == nil
}

// parseStatCPU reads the aggregate "cpu" line of /proc/stat.
func parseStatCPU(line string) (time.Duration, error) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, errors.New("bench: not the cpu line of /proc/stat")
	}
	var ticks [8]int64
	for i := range ticks {
		v, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/stat field %d: %w", i+1, err)
		}
		ticks[i] = v
	}
	// user nice system idle iowait irq softirq steal (guest time is inside user already)
	busy := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
	return time.Duration(busy) * time.Second / clockTicks, nil
}
