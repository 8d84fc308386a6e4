package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What bounds a phase shows in the CPU it used: a phase that keeps every core of the
// machine busy is bound by the work per request, one that leaves cores idle waits on
// something serial (a commit, a round trip). Each phase therefore records this
// process's CPU (server and client: they share it) and the whole machine's, which on
// a local PostgreSQL includes the database's processes.

// cpuUse is the CPU used so far: by this process, and by the machine in /proc/stat's
// ticks (zero where /proc/stat cannot be read).
type cpuUse struct {
	proc        time.Duration
	busy, total uint64
	cpus        int
}

func cpuNow() cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	u.busy, u.total, u.cpus = machineTicks("/proc/stat")
	return u
}

// machineTicks reads the machine's busy and total ticks from the aggregate "cpu" line
// of a /proc/stat file, and counts its cpuN lines.
func machineTicks(path string) (busy, total uint64, cpus int) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		switch {
		case len(fields) > 0 && fields[0] == "cpu":
			// user nice system idle iowait irq softirq steal (guest time is inside user)
			for i, v := range fields[1:min(len(fields), 9)] {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, 0, 0
				}
				total += n
				if i != 3 && i != 4 { // idle, iowait
					busy += n
				}
			}
		case len(fields) > 0 && strings.HasPrefix(fields[0], "cpu"):
			cpus++
		}
	}
	return busy, total, cpus
}

// metered runs a phase and adds to its Result the CPU used while it ran.
func metered(run func() Result) Result {
	before := cpuNow()
	r := run()
	after := cpuNow()
	r.CPU = after.proc - before.proc
	if after.total > before.total {
		r.MachineBusy, r.MachineTicks, r.MachineCPUs = after.busy-before.busy, after.total-before.total, after.cpus
	}
	return r
}

// CPUPerRequest is this process's CPU (server and client) per request of the phase.
func (r Result) CPUPerRequest() time.Duration {
	if n := r.OK + r.Failed; n > 0 {
		return r.CPU / time.Duration(n)
	}
	return 0
}

// MachineCPUPerRequest is the machine's busy CPU (every process's, a local
// PostgreSQL's too) per request of the phase.
func (r Result) MachineCPUPerRequest() time.Duration {
	if n := r.OK + r.Failed; n > 0 {
		return time.Duration(r.MachineCores() * float64(r.Elapsed) / float64(n))
	}
	return 0
}

// Cores is this process's CPU over the phase's time: how many cores it kept busy.
func (r Result) Cores() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return r.CPU.Seconds() / r.Elapsed.Seconds()
}

// MachineCores is how many of the machine's cores were busy during the phase, with
// whatever else ran on them (a local PostgreSQL); 0 where /proc/stat was not read.
func (r Result) MachineCores() float64 {
	if r.MachineTicks == 0 {
		return 0
	}
	return float64(r.MachineBusy) / float64(r.MachineTicks) * float64(r.MachineCPUs)
}
