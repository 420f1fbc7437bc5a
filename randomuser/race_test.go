//go:build race

package randomuser

const raceEnabled = true
