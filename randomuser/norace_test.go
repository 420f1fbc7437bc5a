//go:build !race

package randomuser

const raceEnabled = false
