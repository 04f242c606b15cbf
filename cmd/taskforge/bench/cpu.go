package bench

import (
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
// system, irq, softirq and steal; not idle nor iowait), and its number of cores, from /proc/stat.
// ok is false where there is no /proc/stat (not Linux). It counts every process, the database
// server's too when it runs here, which is what a benchmark's CPU cost per event needs; the cores
// are the machine's, not the ones this process may run on (runtime.NumCPU).
func machineCPU() (busy time.Duration, cores int, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	busy, cores, err = parseStat(string(b))
	return busy, cores, err == nil
}

// parseStat reads the aggregate "cpu" line of /proc/stat and counts the per-core "cpuN" lines.
func parseStat(stat string) (time.Duration, int, error) {
	lines := strings.Split(stat, "\n")
	fields := strings.Fields(lines[0])
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, errors.New("bench: no cpu line first in /proc/stat")
	}
	var ticks [8]int64
	for i := range ticks {
		v, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: /proc/stat field %d: %w", i+1, err)
		}
		ticks[i] = v
	}
	cores := 0
	for _, l := range lines[1:] {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			cores++
		}
	}
	if cores == 0 {
		return 0, 0, errors.New("bench: no cpuN line in /proc/stat")
	}
	// user nice system idle iowait irq softirq steal (guest time is inside user already)
	busy := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
	return time.Duration(busy) * time.Second / clockTicks, cores, nil
}
