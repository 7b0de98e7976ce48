package testchain

import (
	"bytes"
	"crypto/ecdsa"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// PatternsBlock is the first of the blocks that deploy and use the
// contract patterns of Patterns.sol (a token, a pool, a proxy, a CREATE2
// factory, a balance reader): recent enough that a full node still has
// the state of the blocks that use them.
const PatternsBlock = 140

// Patterns.json is Patterns.sol compiled by scripts/gen-contracts.
//
//go:embed Patterns.json
var patternsJSON []byte

// compiled is a contract of Patterns.sol: its ABI and creation code.
type compiled struct {
	ABI abi.ABI
	Bin []byte
}

var patterns = func() map[string]compiled {
	var raw map[string]struct {
		ABI json.RawMessage `json:"abi"`
		Bin hexutil.Bytes   `json:"bin"`
	}
	if err := json.Unmarshal(patternsJSON, &raw); err != nil {
		panic(fmt.Sprintf("Patterns.json: %v", err))
	}
	out := make(map[string]compiled, len(raw))
	for name, c := range raw {
		a, err := abi.JSON(bytes.NewReader(c.ABI))
		if err != nil {
			panic(fmt.Sprintf("Patterns.json: %s: %v", name, err))
		}
		out[name] = compiled{ABI: a, Bin: c.Bin}
	}
	return out
}()

// ABI returns the ABI of a contract of Patterns.sol: Token, Pool, Counter,
// Proxy, Factory or Balances.
func ABI(contract string) abi.ABI {
	c, ok := patterns[contract]
	if !ok {
		panic("no contract " + contract + " in Patterns.sol")
	}
	return c.ABI
}

// PatternBin returns the creation code of a Patterns.sol contract without
// constructor arguments.
func PatternBin(contract string) []byte {
	c, ok := patterns[contract]
	if !ok {
		panic("no contract " + contract + " in Patterns.sol")
	}
	return c.Bin
}

// Pack encodes a call of a Patterns.sol contract's method; it panics on a
// mistake in the test that calls it.
func Pack(contract, method string, args ...any) []byte {
	a := ABI(contract)
	data, err := a.Pack(method, args...)
	if err != nil {
		panic(fmt.Sprintf("%s.%s: %v", contract, method, err))
	}
	return data
}

// Deployment returns the creation code of a Patterns.sol contract with
// its constructor's arguments.
func Deployment(contract string, args ...any) []byte {
	c := patterns[contract]
	enc, err := c.ABI.Pack("", args...)
	if err != nil {
		panic(fmt.Sprintf("%s constructor: %v", contract, err))
	}
	return append(append([]byte(nil), c.Bin...), enc...)
}

// Deployed are the addresses of the contract patterns on the chain.
type Deployed struct {
	Tokens   [5]common.Address // Tokens[0] and Tokens[1] are the pool's
	Pool     common.Address
	Counter  common.Address // the proxy's implementation
	Proxy    common.Address
	Factory  common.Address
	Balances common.Address
	// Holders hold some of every token; Addr2 holds some and Addr1 the
	// rest.
	Holders []common.Address
	// Salt is the salt of the counter the factory deployed.
	Salt common.Hash
}

// Unit is one token (18 decimals).
var Unit = big.NewInt(params.Ether)

// Units is n tokens.
func Units(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), Unit) }

// Supply is each token's total supply.
var Supply = Units(1_000_000)

// plan fills in where Addr1's creations starting at nonce land.
func (d *Deployed) plan(nonce uint64) {
	next := func() common.Address {
		a := crypto.CreateAddress(Addr1, nonce)
		nonce++
		return a
	}
	for i := range d.Tokens {
		d.Tokens[i] = next()
	}
	d.Pool, d.Counter = next(), next()
	d.Proxy, d.Factory, d.Balances = next(), next(), next()
	d.Holders = []common.Address{Addr2, Addr3}
	for i := range 8 {
		d.Holders = append(d.Holders, common.Address{0xab, byte(i + 1)})
	}
	d.Salt = common.HexToHash("0x5a17")
}

// patternTxs sends, in the blocks from PatternsBlock on, the transactions
// that deploy the contract patterns and use them as wallets do. It returns
// false for blocks it does not touch.
func (c *Chain) patternTxs(n uint64, nonce func(common.Address) uint64, tx func(key *ecdsa.PrivateKey, to *common.Address, gas uint64, data []byte) common.Hash) bool {
	d := &c.Patterns
	call := func(key *ecdsa.PrivateKey, to common.Address, data []byte) common.Hash {
		return tx(key, &to, 300_000, data)
	}
	switch n {
	case PatternsBlock:
		d.plan(nonce(Addr1))
		for i := range d.Tokens {
			name := fmt.Sprintf("Token %c", 'A'+i)
			c.Creations = append(c.Creations, tx(Key1, nil, 3_000_000, Deployment("Token", name, name[len(name)-1:], Supply)))
		}
		c.Creations = append(c.Creations,
			tx(Key1, nil, 3_000_000, Deployment("Pool", d.Tokens[0], d.Tokens[1])),
			tx(Key1, nil, 3_000_000, Deployment("Counter")),
			tx(Key1, nil, 3_000_000, Deployment("Proxy", d.Counter)),
			tx(Key1, nil, 3_000_000, Deployment("Factory")),
			tx(Key1, nil, 3_000_000, Deployment("Balances")))
	case PatternsBlock + 1:
		call(Key1, d.Tokens[0], Pack("Token", "approve", d.Pool, Units(1_000)))
		call(Key1, d.Tokens[1], Pack("Token", "approve", d.Pool, Units(2_000)))
		call(Key1, d.Pool, Pack("Pool", "addLiquidity", Units(1_000), Units(2_000)))
		for i, token := range d.Tokens {
			for j, holder := range d.Holders {
				call(Key1, token, Pack("Token", "transfer", holder, Units(int64(10*(i+1)+j))))
			}
		}
	case PatternsBlock + 2:
		call(Key2, d.Tokens[0], Pack("Token", "approve", d.Pool, abiMax))
		call(Key2, d.Pool, Pack("Pool", "swap", Units(5), true, big.NewInt(1)))
		call(Key2, d.Proxy, Pack("Counter", "increment"))
		call(Key3, d.Proxy, Pack("Counter", "increment"))
		call(Key1, d.Factory, Pack("Factory", "deploy", d.Salt))
	case PatternsBlock + 3:
		// A transfer of more than Addr2 holds: InsufficientBalance.
		c.Reverted = append(c.Reverted, call(Key2, d.Tokens[2], Pack("Token", "transfer", Addr1, Units(1_000))))
		c.Reverted = append(c.Reverted, call(Key2, d.Pool, Pack("Pool", "swap", Units(1), false, Units(1_000))))
	default:
		return false
	}
	return true
}

// abiMax is the largest uint256, an unlimited allowance.
var abiMax = new(big.Int).Sub(new(big.Int).Lsh(common.Big1, 256), common.Big1)
