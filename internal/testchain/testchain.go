// Package testchain builds the chain lightmarket's differential tests run
// on: a chain that walks Ethereum's forks like a real network (proof of
// work blocks with uncles, the merge, then Shanghai, Cancun, Prague and
// Osaka by timestamp) and carries every kind of transaction a wallet meets:
// legacy (with and without replay protection), access list, dynamic fee,
// blob and set-code transactions, contract creations, reverts with custom
// errors, logs, withdrawals, and one block whose receipts exceed the 10 MiB
// message limit.
//
// The chain is generated with go-ethereum's chain maker, so that the same
// blocks can be imported into a real geth (WriteGenesis, WriteBlocks) and
// into an in-process node (NewNode), and the answers of the light client
// compared with the node's.
package testchain

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"
)

// Fork schedule: blocks are 10 s apart (the chain maker's rule), so block
// n has time GenesisTime + 10·n.
const (
	ChainID       = 4242
	BerlinBlock   = 2
	LondonBlock   = 4
	MergeBlock    = 8 // first proof-of-stake block
	ShanghaiBlock = 12
	CancunBlock   = 15
	PragueBlock   = 18
	OsakaBlock    = 21
	// BigReceiptsBlock holds transactions whose logs add up to more than
	// 10 MiB of receipts.
	BigReceiptsBlock = 24
	// Blocks is the chain's length (without genesis): long enough that a
	// full node no longer has the state of the first blocks (it keeps 128).
	Blocks = 170
)

// Keys and accounts funded at genesis. They are fixed so that the chain is
// the same in every run.
var (
	Key1, _  = crypto.HexToECDSA("8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a")
	Key2, _  = crypto.HexToECDSA("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
	Key3, _  = crypto.HexToECDSA("0202020202020202020202020202020202020202020202020202020202020202")
	Addr1    = crypto.PubkeyToAddress(Key1.PublicKey)
	Addr2    = crypto.PubkeyToAddress(Key2.PublicKey)
	Addr3    = crypto.PubkeyToAddress(Key3.PublicKey)
	Funds    = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	Coinbase = common.HexToAddress("0xc0ffee0000000000000000000000000000000001")
)

// Contracts the chain deploys at genesis, by address.
var (
	// Logger emits Ping(uint256) indexed by the caller, with the call data
	// as data, and returns the call data.
	Logger = common.HexToAddress("0x1000000000000000000000000000000000000001")
	// Reverter reverts with the custom error Nope(uint256 7).
	Reverter = common.HexToAddress("0x1000000000000000000000000000000000000002")
	// Store keeps its call data's first word in slot 0 and returns slot 0
	// when called without data.
	Store = common.HexToAddress("0x1000000000000000000000000000000000000003")
	// BigLogger emits seven 256 KiB logs per call.
	BigLogger = common.HexToAddress("0x1000000000000000000000000000000000000004")
)

// PingTopic is the first topic of Logger's event: keccak256("Ping(uint256)").
var PingTopic = crypto.Keccak256Hash([]byte("Ping(uint256)"))

// NopeSelector is the selector of Reverter's custom error Nope(uint256).
var NopeSelector = crypto.Keccak256([]byte("Nope(uint256)"))[:4]

// Chain is a generated chain.
type Chain struct {
	Genesis  *core.Genesis
	Blocks   []*types.Block // 1..Blocks
	Receipts []types.Receipts

	// What a test can look for, by kind.
	UncleBlocks   []uint64               // blocks with uncles
	TxsByType     map[byte][]common.Hash // every transaction, by type
	Unprotected   common.Hash            // a legacy transaction without chain id
	Creations     []common.Hash          // contract creations (one fails)
	Reverted      []common.Hash          // transactions that revert
	Withdrawals   []uint64               // blocks with withdrawals
	SetCode       common.Hash            // the set-code transaction
	BlobTx        common.Hash            // a blob transaction
	BigReceiptsTx []common.Hash          // the transactions of BigReceiptsBlock
	Patterns      Deployed               // the contract patterns, from PatternsBlock on
}

func ptr(v uint64) *uint64 { return &v }

// Config returns the chain's configuration for a genesis at time t0.
func Config(t0 uint64) *params.ChainConfig {
	at := func(block uint64) *uint64 { return ptr(t0 + 10*block) }
	return &params.ChainConfig{
		ChainID:                 big.NewInt(ChainID),
		HomesteadBlock:          big.NewInt(0),
		EIP150Block:             big.NewInt(0),
		EIP155Block:             big.NewInt(0),
		EIP158Block:             big.NewInt(0),
		ByzantiumBlock:          big.NewInt(0),
		ConstantinopleBlock:     big.NewInt(0),
		PetersburgBlock:         big.NewInt(0),
		IstanbulBlock:           big.NewInt(0),
		MuirGlacierBlock:        big.NewInt(0),
		BerlinBlock:             big.NewInt(BerlinBlock),
		LondonBlock:             big.NewInt(LondonBlock),
		ArrowGlacierBlock:       big.NewInt(LondonBlock),
		GrayGlacierBlock:        big.NewInt(LondonBlock),
		MergeNetsplitBlock:      big.NewInt(MergeBlock),
		TerminalTotalDifficulty: big.NewInt(1 << 62), // set to the merge's total difficulty once generated
		ShanghaiTime:            at(ShanghaiBlock),
		CancunTime:              at(CancunBlock),
		PragueTime:              at(PragueBlock),
		OsakaTime:               at(OsakaBlock),
		DepositContractAddress:  common.HexToAddress("0x4242424242424242424242424242424242424242"),
		BlobScheduleConfig: &params.BlobScheduleConfig{
			Cancun: params.DefaultCancunBlobConfig,
			Prague: params.DefaultPragueBlobConfig,
		},
		Ethash: new(params.EthashConfig),
	}
}

// Generate builds the chain with its genesis at time t0 (unix seconds).
func Generate(t0 uint64) *Chain {
	alloc := core.SystemContractAllocs()
	for _, a := range []common.Address{Addr1, Addr2, Addr3} {
		alloc[a] = types.Account{Balance: Funds}
	}
	alloc[Logger] = types.Account{Code: loggerCode, Balance: new(big.Int)}
	alloc[Reverter] = types.Account{Code: reverterCode, Balance: new(big.Int)}
	alloc[Store] = types.Account{Code: storeCode, Balance: new(big.Int), Storage: map[common.Hash]common.Hash{{}: common.HexToHash("0x2a")}}
	alloc[BigLogger] = types.Account{Code: bigLoggerCode, Balance: new(big.Int)}
	cfg := Config(t0)
	genesis := &core.Genesis{
		Config:     cfg,
		Timestamp:  t0,
		GasLimit:   60_000_000, // doubled to 120M at London
		Difficulty: big.NewInt(131072),
		Alloc:      alloc,
		ExtraData:  []byte("lightmarket testchain"),
		Coinbase:   Coinbase,
	}
	c := &Chain{Genesis: genesis, TxsByType: make(map[byte][]common.Hash)}
	engine := beacon.New(ethash.NewFaker())
	signer := types.LatestSigner(cfg)
	nonces := make(map[common.Address]uint64)
	send := func(b *core.BlockGen, key *ecdsa.PrivateKey, data types.TxData) common.Hash {
		addr := crypto.PubkeyToAddress(key.PublicKey)
		setNonce(data, nonces[addr])
		nonces[addr]++
		tx := types.MustSignNewTx(key, signer, data)
		b.AddTx(tx)
		c.TxsByType[tx.Type()] = append(c.TxsByType[tx.Type()], tx.Hash())
		return tx.Hash()
	}
	gasPrice := func(b *core.BlockGen) *big.Int {
		if b.Number().Uint64() < LondonBlock {
			return big.NewInt(params.GWei)
		}
		return new(big.Int).Add(b.BaseFee(), big.NewInt(params.GWei))
	}
	tip := big.NewInt(params.GWei)
	feeCap := func(b *core.BlockGen) *big.Int {
		return new(big.Int).Add(new(big.Int).Mul(b.BaseFee(), big.NewInt(2)), tip)
	}
	var sideBlocks []*types.Header

	_, blocks, receipts := core.GenerateChainWithGenesis(genesis, engine, Blocks, func(i int, b *core.BlockGen) {
		n := b.Number().Uint64()
		b.SetCoinbase(Coinbase)
		word := common.BigToHash(big.NewInt(int64(n)))
		switch {
		case n < MergeBlock:
			// Proof of work: legacy transactions, uncles.
			if n == 1 {
				unprotected := types.MustSignNewTx(Key2, types.HomesteadSigner{}, &types.LegacyTx{Nonce: nonces[Addr2], To: &Logger, Gas: 60_000, GasPrice: gasPrice(b), Data: word[:]})
				nonces[Addr2]++
				b.AddTx(unprotected)
				c.Unprotected = unprotected.Hash()
				c.TxsByType[types.LegacyTxType] = append(c.TxsByType[types.LegacyTxType], unprotected.Hash())
				// A contract creation: a copy of the logger.
				c.Creations = append(c.Creations, send(b, Key1, &types.LegacyTx{Gas: 200_000, GasPrice: gasPrice(b), Data: initCode(loggerCode)}))
			}
			send(b, Key1, &types.LegacyTx{To: &Logger, Gas: 60_000, GasPrice: gasPrice(b), Data: word[:]})
			if n >= BerlinBlock {
				send(b, Key1, &types.AccessListTx{ChainID: cfg.ChainID, To: &Store, Gas: 80_000, GasPrice: gasPrice(b), Data: word[:],
					AccessList: types.AccessList{{Address: Store, StorageKeys: []common.Hash{{}}}}})
			}
			if n >= LondonBlock {
				send(b, Key2, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: &Logger, Gas: 60_000, GasTipCap: tip, GasFeeCap: feeCap(b), Data: word[:]})
			}
			if n == 3 {
				c.Reverted = append(c.Reverted, send(b, Key3, &types.LegacyTx{To: &Reverter, Gas: 50_000, GasPrice: gasPrice(b)}))
			}
			if n == 3 || n == 4 || n == 6 {
				// An uncle: a sibling of the parent (whose own parent the
				// chain maker must have generated, so not block 1).
				parent := b.PrevBlock(i - 1)
				uncle := types.CopyHeader(parent.Header())
				uncle.Extra = []byte(fmt.Sprintf("uncle %d", n))
				uncle.Coinbase = common.Address{byte(n)}
				b.AddUncle(uncle)
				sideBlocks = append(sideBlocks, uncle)
				c.UncleBlocks = append(c.UncleBlocks, n)
			}
		case n < BigReceiptsBlock || n > BigReceiptsBlock && n <= BigReceiptsBlock+6:
			send(b, Key1, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: &Logger, Gas: 60_000, GasTipCap: tip, GasFeeCap: feeCap(b), Data: word[:]})
			if n%3 == 0 {
				send(b, Key2, &types.LegacyTx{To: &Store, Gas: 60_000, GasPrice: gasPrice(b), Data: word[:]})
			}
			if n%4 == 1 {
				send(b, Key3, &types.AccessListTx{ChainID: cfg.ChainID, To: &Logger, Gas: 80_000, GasPrice: gasPrice(b), Data: word[:],
					AccessList: types.AccessList{{Address: Logger}}})
			}
			if n == MergeBlock+1 {
				c.Reverted = append(c.Reverted, send(b, Key3, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: &Reverter, Gas: 50_000, GasTipCap: tip, GasFeeCap: feeCap(b)}))
				// A creation that fails: the init code reverts.
				failed := send(b, Key3, &types.DynamicFeeTx{ChainID: cfg.ChainID, Gas: 100_000, GasTipCap: tip, GasFeeCap: feeCap(b), Data: []byte{0x60, 0x00, 0x60, 0x00, 0xfd}})
				c.Creations = append(c.Creations, failed)
				c.Reverted = append(c.Reverted, failed)
			}
			if n >= ShanghaiBlock {
				b.AddWithdrawal(&types.Withdrawal{Validator: n, Address: Addr3, Amount: 1_000_000 * n})
				if n%2 == 0 {
					b.AddWithdrawal(&types.Withdrawal{Validator: n + 1, Address: common.Address{0xee, byte(n)}, Amount: 7})
				}
				c.Withdrawals = append(c.Withdrawals, n)
			}
			if n == CancunBlock+1 || n == OsakaBlock+1 {
				blobFeeCap := new(big.Int).Mul(big.NewInt(params.GWei), big.NewInt(10))
				h := send(b, Key2, &types.BlobTx{ChainID: uint256.MustFromBig(cfg.ChainID), To: Logger, Gas: 60_000,
					GasTipCap: uint256.MustFromBig(tip), GasFeeCap: uint256.MustFromBig(feeCap(b)), BlobFeeCap: uint256.MustFromBig(blobFeeCap),
					BlobHashes: []common.Hash{blobHash(n, 0), blobHash(n, 1)}, Data: word[:]})
				c.BlobTx = h
			}
			if n == PragueBlock+1 {
				// Key3 delegates its account to the logger, then a call to it
				// runs the logger's code.
				auth, err := types.SignSetCode(Key3, types.SetCodeAuthorization{ChainID: *uint256.MustFromBig(cfg.ChainID), Address: Logger, Nonce: nonces[Addr3] + 1})
				if err != nil {
					panic(err)
				}
				c.SetCode = send(b, Key3, &types.SetCodeTx{ChainID: uint256.MustFromBig(cfg.ChainID), To: Addr1, Gas: 100_000,
					GasTipCap: uint256.MustFromBig(tip), GasFeeCap: uint256.MustFromBig(feeCap(b)), AuthList: []types.SetCodeAuthorization{auth}})
				nonces[Addr3]++ // the authorization used a nonce too
			}
			if n == PragueBlock+2 {
				send(b, Key1, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: &Addr3, Gas: 80_000, GasTipCap: tip, GasFeeCap: feeCap(b), Data: word[:]})
			}
		case c.patternTxs(n, func(a common.Address) uint64 { return nonces[a] }, func(key *ecdsa.PrivateKey, to *common.Address, gas uint64, data []byte) common.Hash {
			return send(b, key, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: to, Gas: gas, GasTipCap: tip, GasFeeCap: feeCap(b), Data: data})
		}):
		case n == BigReceiptsBlock:
			for range 6 {
				h := send(b, Key1, &types.DynamicFeeTx{ChainID: cfg.ChainID, To: &BigLogger, Gas: 16_000_000, GasTipCap: tip, GasFeeCap: feeCap(b)})
				c.BigReceiptsTx = append(c.BigReceiptsTx, h)
			}
		}
		if n >= MergeBlock && n%10 == 7 {
			// Now and then a block with no transactions at all.
			return
		}
	})
	// The terminal total difficulty is that of the last proof-of-work
	// block.
	td := new(big.Int).Set(genesis.Difficulty)
	for _, b := range blocks[:MergeBlock-1] {
		td.Add(td, b.Difficulty())
	}
	cfg.TerminalTotalDifficulty = td
	c.Blocks, c.Receipts = blocks, receipts
	_ = sideBlocks
	return c
}

// blobHash is a versioned blob hash (version 0x01) made up for block n.
func blobHash(n uint64, i byte) common.Hash {
	h := sha256.Sum256([]byte{byte(n), i})
	h[0] = 0x01
	return h
}

func setNonce(data types.TxData, nonce uint64) {
	switch tx := data.(type) {
	case *types.LegacyTx:
		tx.Nonce = nonce
	case *types.AccessListTx:
		tx.Nonce = nonce
	case *types.DynamicFeeTx:
		tx.Nonce = nonce
	case *types.BlobTx:
		tx.Nonce = nonce
	case *types.SetCodeTx:
		tx.Nonce = nonce
	default:
		panic(fmt.Sprintf("unknown transaction type %T", data))
	}
}

// Head is the last block.
func (c *Chain) Head() *types.Block { return c.Blocks[len(c.Blocks)-1] }

// Block returns block n (1..Blocks).
func (c *Chain) Block(n uint64) *types.Block { return c.Blocks[n-1] }

// WriteGenesis writes the genesis in the JSON form `geth init` reads.
func (c *Chain) WriteGenesis(path string) error {
	enc, err := json.MarshalIndent(c.Genesis, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, enc, 0o644)
}

// WriteBlocks writes the blocks, RLP-encoded one after another, in the
// form `geth import` reads.
func (c *Chain) WriteBlocks(w io.Writer) error {
	for _, b := range c.Blocks {
		if err := rlp.Encode(w, b); err != nil {
			return err
		}
	}
	return nil
}
