package paychan

import (
	"fmt"
	"math/big"
)

// ParseGwei reads a decimal amount of gwei ("0.000001", "12"), as the
// flags and configurations write money, as wei, exactly; amounts finer
// than a wei are refused.
func ParseGwei(s string) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return nil, fmt.Errorf("%q is not a non-negative decimal amount of gwei", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(1e9))
	if !r.IsInt() {
		return nil, fmt.Errorf("%q gwei is not a whole number of wei", s)
	}
	return new(big.Int).Set(r.Num()), nil
}
