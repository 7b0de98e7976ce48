//go:build race

package devnet

// raceEnabled is set when the tests run under the race detector, which
// makes everything several times slower: heavy tests do less and wait
// longer.
const raceEnabled = true
