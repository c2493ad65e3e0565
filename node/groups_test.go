package node

import (
	"runtime"
	"testing"
)

func TestGroupsDefault(t *testing.T) {
	cores := runtime.NumCPU()
	for _, c := range []struct{ configured, stages, want int }{
		{3, 4, 3}, {1, 4, 1}, {0, 1, 1}, {0, 4, min(4, cores)}, {0, 64, min(64, cores)},
	} {
		if got := groups(c.configured, c.stages); got != c.want {
			t.Errorf("groups(%d, %d stages) = %d on %d cores, want %d", c.configured, c.stages, got, cores, c.want)
		}
	}
}
