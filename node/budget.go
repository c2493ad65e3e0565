//go:build !js

package node

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// defaultBudget offers half of the machine's available memory
// (/proc/meminfo), or 2 GiB where that cannot be read.
func defaultBudget() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 2 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
				return kb * 1024 / 2
			}
		}
	}
	return 2 << 30
}
